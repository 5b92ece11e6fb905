"""`make bench`: every benchmark, one table."""

from __future__ import annotations

from datetime import date

from bench import names_speed, poem_speed
from bench.common import machine, print_table


def main() -> None:
    rows = names_speed.run() + poem_speed.run()
    print(f"# make bench — {date.today()} — {machine()}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
