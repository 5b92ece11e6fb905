"""`python -m app`: serve with uvicorn, configured by the environment (HOST, PORT, WORKERS).

Used by `make run` and the container's exec-form CMD. On SIGTERM/SIGINT uvicorn stops accepting connections, lets
in-flight requests finish (up to 30 s), runs the lifespan shutdown, and this process then exits with status 0.
(uvicorn re-raises the signal after its graceful shutdown; the no-op handlers below absorb it so the exit status says
"clean shutdown" instead of "killed by SIGTERM".)
"""

from __future__ import annotations

import os
import signal

import uvicorn


def main(asgi_app: str = "app.main:app") -> None:
    """Serve `asgi_app` (the service; bench/http_speed.py serves its trivial baseline through here too, so both run
    with exactly these settings)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)  # only reached after uvicorn has shut down gracefully
    uvicorn.run(
        asgi_app,
        host=os.environ.get("HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "8000")),
        workers=int(os.environ.get("WORKERS", "1")),
        access_log=False,  # the app writes its own JSON access log with request ids
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
