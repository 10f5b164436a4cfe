"""How the commands' help reads: words for values (FILE, N, KEY=VALUE), none for flags, and
the examples of each command below its options."""

from __future__ import annotations

import enum
import inspect

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def reflow(text: str | None) -> str:
    """A help text with each paragraph on one line, for rich to wrap at the terminal's width
    (rich keeps the line breaks of a docstring and wraps the long lines again: ragged help)."""
    paragraphs = inspect.cleandoc(text or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


# What a help page calls the value an option takes, by type (Typer 0.29 shows `<int>`, `<str>`,
# `<list[str]>` and `<bool>` on flags). An option's own metavar wins.
_PLACEHOLDERS = {int: "N", float: "X", str: "TEXT"}


def _placeholder(param) -> str | None:
    if getattr(param, "is_flag", False):
        return None  # a flag takes no value
    if param.metavar:
        return param.metavar
    annotation = param.type_descriptor.annotation
    annotation = getattr(annotation, "__args__", (annotation,))[0]  # list[X] -> X, repeatable
    if param.type_descriptor.is_path:
        return "PATH"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "|".join(member.value for member in annotation)  # the choices, listed
    return _PLACEHOLDERS.get(annotation, "VALUE")


def _name_values(params) -> None:
    for param in params:
        if isinstance(param, TyperOption):
            word = _placeholder(param)
            param.display_type_rich = lambda ctx, word=word: word
        elif isinstance(param, TyperArgument):  # its name is its placeholder: RUN, MODEL
            name = param.display_name_raw
            usage = name if param.required else f"[{name}]"
            param.display_type_rich = lambda ctx: None
            param._usage_display_name = lambda usage=usage: usage


class Command(TyperCommand):
    """A command whose help shows words for values (FILE, N, KEY=VALUE), none for flags."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _name_values(self.params)

    def get_params(self, ctx):
        params = super().get_params(ctx)
        _name_values(params)  # --help, added here
        return params


class Group(TyperGroup):
    """The same for a group of commands (seqrnn itself, seqrnn data)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        _name_values(params)
        return params


def split_examples(text: str | None) -> tuple[str, str | None]:
    """A command's docstring as (help, examples): examples follow a line "Examples:", one
    command a line (a line that starts with "--" continues the one above); Typer shows them
    below the options."""
    help_text, _, examples = inspect.cleandoc(text or "").partition("\nExamples:\n")
    if not examples.strip():
        return reflow(help_text), None
    from rich.markup import escape

    commands: list[str] = []
    for line in (line.strip() for line in examples.splitlines()):
        if line.startswith("--") and commands:
            commands[-1] += f" {line}"
        elif line:
            commands.append(line)
    lines = [escape(command) for command in commands]
    return reflow(help_text), "Examples:\n" + "\n".join(lines)
