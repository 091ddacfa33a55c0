"""The profile format: TOML parsed and checked (every issue with file, line and key), the
cross-profile graph, TOML text written back, and the live registry that reloads all or
nothing.
"""

from prioscore.server.profiles.candidate_text import CandidateText, candidate_text
from prioscore.server.profiles.check import hint
from prioscore.server.profiles.graph import check_profile_set
from prioscore.server.profiles.loading import (
    load_directory,
    load_profile,
    load_profile_text,
    profile_digest,
    profile_to_toml,
)
from prioscore.server.profiles.registry import ProfileRegistry, ReloadResult
from prioscore.server.profiles.toml_text import Locator

__all__ = [
    "CandidateText",
    "Locator",
    "ProfileRegistry",
    "ReloadResult",
    "candidate_text",
    "check_profile_set",
    "hint",
    "load_directory",
    "load_profile",
    "load_profile_text",
    "profile_digest",
    "profile_to_toml",
]
