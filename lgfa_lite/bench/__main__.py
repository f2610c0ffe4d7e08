"""``python -m lgfa_lite.bench [group ...] [--quick] [--list] [--results PATH]``"""

import argparse

from lgfa_lite.bench import runner


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lgfa_lite.bench", description=__doc__)
    p.add_argument("groups", nargs="*", help="groups to run (default: all)")
    p.add_argument("--quick", action="store_true", help="toy sizes (tests); results are marked as quick")
    p.add_argument("--list", action="store_true", help="list the groups and exit")
    p.add_argument(
        "--results",
        default=runner.DEFAULT_RESULTS,
        help="results.json to merge into; RESULTS.md and history.jsonl go next to it",
    )
    args = p.parse_args(argv)
    if args.list:
        for name in sorted(runner.discover()):
            print(name)
        for mod, err in runner.IMPORT_ERRORS.items():
            print(f"(broken: {mod}: {err})")
        return
    try:
        runner.run(args.groups, quick=args.quick, results=args.results)
    except runner.UnknownGroupError as e:
        p.error(str(e))


if __name__ == "__main__":
    main()
