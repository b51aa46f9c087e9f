"""`python -m seq2seq ...` (used by torchrun) is the same as the `s2s` command."""

from seq2seq.cli import run

if __name__ == "__main__":
    run()
