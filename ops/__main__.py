"""Lets `python -m ops` run the same CLI as the `dogbreed` console script."""

from ops.cli import main

if __name__ == "__main__":
    main()
