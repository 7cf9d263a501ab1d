"""``python -m kiln`` and the ``kiln`` console script: the same CLI as tools/kiln (build, run, bench, inspect).

The package ships the kiln executable itself (kiln/bin/kiln, built from tools/kiln with the module), and this
replaces the Python process with it, so flags, output and exit codes (0 ok, 1 error, 2 usage) are exactly the
CLI's. KILN_CLI=/path/to/kiln runs another build of it.
"""
import os
import sys


def executable():
    path = os.environ.get("KILN_CLI") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "kiln")
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"the kiln executable is not at {path}: reinstall the package (pip install .), "
                                "or set KILN_CLI to a built tools/kiln binary")
    return path


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        path = executable()
    except FileNotFoundError as e:
        print(f"kiln: error: {e}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, [path] + args)


if __name__ == "__main__":
    main()
