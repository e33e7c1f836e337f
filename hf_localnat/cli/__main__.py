"""`python -m hf_localnat.cli`: the `localnat` command."""

from . import main

if __name__ == "__main__":
    main(prog_name="localnat")
