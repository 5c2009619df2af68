"""Command line of statopt: ``python -m statopt reproduce [NAME ...] [--quick]``."""

import argparse
import sys
import time

from ._reproduce import EXPERIMENTS


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m statopt",
        description="statopt: classic statistical optimisation algorithms as "
        "scikit-learn estimators.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    experiments = "\n".join(f"  {name:10s} {module.DESCRIPTION}"
                            for name, module in EXPERIMENTS.items())
    reproduce = commands.add_parser(
        "reproduce",
        help="regenerate the published experiments and print them beside the "
        "published figures",
        description="Regenerate the published experiments behind statopt's "
        "estimators and print each table beside the published figures.",
        epilog=f"experiments:\n{experiments}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reproduce.add_argument("names", nargs="*", metavar="NAME",
                           help="experiments to run (default: all)")
    reproduce.add_argument("--quick", action="store_true",
                           help="smaller sizes: the whole run takes under a minute")
    reproduce.add_argument("--data-home", default=None,
                           help="folder holding the real data sets (default: "
                           "$STATOPT_DATA_HOME, else ../shared/data beside a source "
                           "checkout, else ~/statopt_data)")
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    names = args.names or list(EXPERIMENTS)
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        print(f"unknown experiment(s): {', '.join(unknown)}; choose from "
              f"{', '.join(EXPERIMENTS)}", file=sys.stderr)
        return 2
    for name in names:
        start = time.perf_counter()
        print(f"=== reproduce {name}: {EXPERIMENTS[name].DESCRIPTION} ===")
        EXPERIMENTS[name].run(quick=args.quick, data_home=args.data_home)
        print(f"=== {name} done in {time.perf_counter() - start:.1f} s ===\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
