"""The command line of each heavy job, kept apart from the job so `embedflow COMMAND --help` is instant.

Each module declares its commands' flags (`add_arguments`, or `add_NAME_arguments` for a module with several
commands) and their handlers (`main_from_args`, or `NAME_main`), and imports only the standard library at
import time: the job itself (TensorFlow, Beam) is imported inside the handler, once the flags are parsed.
A flag is declared here and nowhere else.
"""
