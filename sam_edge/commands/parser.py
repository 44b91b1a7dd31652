"""The argparse habits every ``sam-edge`` command shares (subcommand parsers inherit this class).

- A usage error is one line and exit status 2, like a SamEdgeError.
- A single-valued option given twice (``--box A --box B``) is an error naming the option, instead
  of the last one silently winning; options meant to repeat use ``action="append"`` (``--point``).
- A value that starts with a minus and a digit (``--point -5,100``, ``--threads -1``) is the
  option's value, not an unknown option: it is read as ``--point=-5,100``.
- An option may leave a note for stderr (``add_note``); ``sam-edge`` prints the notes only once the
  whole command line has parsed, so a usage error stays one line.
"""

from __future__ import annotations

import argparse
import re
import sys

# "-5,100", "-1", "-.5,3": a negative number (list) meant as a value, never an option name.
NEGATIVE_VALUE = re.compile(r"^-\.?\d")
_GIVEN = "_sam_edge_options_given"  # namespace attribute used only during parsing
_NOTES = "_sam_edge_notes"


def add_note(namespace: argparse.Namespace, text: str) -> None:
    """Keep a one-line note about an option's value for ``pop_notes``."""
    namespace.__dict__.setdefault(_NOTES, []).append(text)


def pop_notes(namespace: argparse.Namespace) -> list[str]:
    """The notes options left while parsing (removed from the namespace)."""
    return namespace.__dict__.pop(_NOTES, [])


class StoreOnce(argparse.Action):
    """argparse's plain 'store', refusing a second occurrence of the same option."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault(_GIVEN, set())
        if option_string is not None and self.dest in given:
            raise argparse.ArgumentError(self, "given more than once; give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


class ArgumentParser(argparse.ArgumentParser):
    """sam-edge's parser: one-line usage errors, single-use options, negative values (module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, StoreOnce)  # add_argument without action=
        self.register("action", "store", StoreOnce)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        args = attach_negative_values(args, self._option_string_actions)
        namespace, extras = super().parse_known_args(args, namespace)
        namespace.__dict__.pop(_GIVEN, None)
        return namespace, extras


def attach_negative_values(args: list[str], actions: dict[str, argparse.Action]) -> list[str]:
    """Join ``OPTION -5,100`` into ``OPTION=-5,100`` for options of this parser that take one value."""
    joined, index = [], 0
    while index < len(args):
        action = actions.get(args[index])
        takes_value = action is not None and action.nargs is None
        if takes_value and index + 1 < len(args) and NEGATIVE_VALUE.match(args[index + 1]):
            joined.append(f"{args[index]}={args[index + 1]}")
            index += 2
        else:
            joined.append(args[index])
            index += 1
    return joined
