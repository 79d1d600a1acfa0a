"""The ``convcore`` command: ``convcore info`` (and the subcommands registered below)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional


def _info(args: argparse.Namespace) -> int:
    import convcore

    print(json.dumps(convcore.info(), indent=2, default=str))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="convcore", description="convcore command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="print build and run-time facts")
    p.set_defaults(func=_info)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
