"""Flex Template entry point: the template launcher runs this file with the job's parameters as flags."""

import sys

from embedflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["preprocess", *sys.argv[1:]]))
