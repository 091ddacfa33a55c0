"""The live core: the one writer, the clock that keeps every stored score current, and
the staged shadow profiles it keeps scored beside their active versions."""

from prioscore.server.core.shadows import (
    PromoteResult,
    ShadowSet,
    StagedProfile,
    StageResult,
    shadow_key,
)

__all__ = ["PromoteResult", "ShadowSet", "StageResult", "StagedProfile", "shadow_key"]
