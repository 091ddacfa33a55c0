"""Global options accepted anywhere: `prioscore rank x --timeout 2` as well as before `rank`.

click only parses a group's options before the subcommand's name. People type them at the
end (shell history, appending a flag to a command that just failed), so the group moves
its own options found after the subcommand back in front of it before parsing. An option
the subcommand defines itself (`watch --timeout` is the watch's own duration) stays with
the subcommand: the nearer definition wins, as a reader expects.
"""

from __future__ import annotations

import click


def _option_names(command: click.Command) -> set[str]:
    return {name for p in command.params if isinstance(p, click.Option) for name in p.opts}


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """args with the group's options that follow the subcommand moved before it."""
    own = {name: p for p in group.params if isinstance(p, click.Option) for name in p.opts}
    position = 0
    while position < len(args) and args[position].startswith("-"):  # leading group options
        name = args[position].split("=", 1)[0]
        option = own.get(name)
        position += 2 if option and _takes_value(option) and "=" not in args[position] else 1
    if position >= len(args):
        return args
    local: set[str] = set()
    command: click.Command | None = group
    for word in args[position:]:  # the subcommand path (profiles show ...): its own options
        if word.startswith("-") or not isinstance(command, click.Group):
            break
        command = command.get_command(ctx, word)
        if command is None:
            break
        local |= _option_names(command)
    moved: list[str] = []
    kept: list[str] = []
    rest = args[position:]
    index = 0
    while index < len(rest):
        word = rest[index]
        if word == "--":
            kept.extend(rest[index:])
            break
        name = word.split("=", 1)[0]
        option = own.get(name)
        if option is None or name in local:
            kept.append(word)
            index += 1
            continue
        width = 2 if _takes_value(option) and "=" not in word else 1
        moved.extend(rest[index : index + width])
        index += width
    return [*args[:position], *moved, *kept]
