"""`make bench`: every benchmark, one table."""

from __future__ import annotations

from datetime import date

from bench import http_speed, names_speed, poem_speed, trainer_speed
from bench.common import machine, print_table


def main() -> None:
    rows = trainer_speed.run() + names_speed.run() + http_speed.run() + poem_speed.run()
    print(f"# make bench — {date.today()} — {machine()}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
