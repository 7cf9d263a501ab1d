"""python -m kiln: the kiln CLI (see kiln/cli.py)."""
from .cli import main

main()
