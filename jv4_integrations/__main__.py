"""``python -m jv4_integrations``: the ``jv4`` command line."""

from __future__ import annotations

from .cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
