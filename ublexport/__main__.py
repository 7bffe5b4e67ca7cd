"""`python -m ublexport`: the command line."""

from ublexport.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports it
    main()
