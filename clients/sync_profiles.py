"""The profile half of PrioscoreClient: each method runs the async client's twin on the
client's loop thread (a base class, kept apart so each module stays small)."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from prioscore.clients.client import AsyncPrioscoreClient
from prioscore.v1 import profile_service_pb2 as profiles_pb
from prioscore.v1 import types_pb2

T = TypeVar("T")


class SyncProfileCalls:
    """The blocking ProfileService calls, typed method by method like the async ones."""

    aio: AsyncPrioscoreClient

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError  # PrioscoreClient's

    # -- profiles ---------------------------------------------------------------------

    def list_profiles(self) -> list[profiles_pb.ProfileSummary]:
        return self._run(self.aio.list_profiles())

    def get_profile(self, name: str) -> profiles_pb.GetProfileResponse:
        return self._run(self.aio.get_profile(name))

    def validate_profile(
        self, toml: str, filename: str = ""
    ) -> profiles_pb.ValidateProfileResponse:
        return self._run(self.aio.validate_profile(toml, filename))

    def reload_profiles(self) -> profiles_pb.ReloadProfilesResponse:
        return self._run(self.aio.reload_profiles())

    def stage_profile(self, toml: str, filename: str = "") -> profiles_pb.StageProfileResponse:
        return self._run(self.aio.stage_profile(toml, filename))

    def promote_profile(
        self, name: str, shadow_version: int = 0
    ) -> profiles_pb.PromoteProfileResponse:
        return self._run(self.aio.promote_profile(name, shadow_version))

    def delete_shadow_profile(self, name: str) -> profiles_pb.DeleteShadowProfileResponse:
        return self._run(self.aio.delete_shadow_profile(name))

    # -- evaluation -------------------------------------------------------------------

    def backtest(
        self,
        outcomes: Sequence[types_pb2.Outcome],
        *,
        profile: str = "",
        candidate_toml: str = "",
        k: int = 0,
        horizon_days: float = 0.0,
        shadow_profile: str = "",
    ) -> profiles_pb.BacktestResponse:
        return self._run(
            self.aio.backtest(
                outcomes,
                profile=profile,
                candidate_toml=candidate_toml,
                k=k,
                horizon_days=horizon_days,
                shadow_profile=shadow_profile,
            )
        )

    def calibrate(
        self,
        profile: str,
        outcomes: Sequence[types_pb2.Outcome],
        *,
        l2: float = 0.0,
        horizon_days: float = 0.0,
        k: int = 0,
    ) -> profiles_pb.CalibrateResponse:
        return self._run(
            self.aio.calibrate(profile, outcomes, l2=l2, horizon_days=horizon_days, k=k)
        )

    def compare(
        self,
        profile: str,
        *,
        candidate_toml: str = "",
        candidate_profile: str = "",
        candidate_shadow: bool = False,
        k: int = 0,
        page_size: int = 0,
    ) -> profiles_pb.CompareProfilesResponse:
        return self._run(
            self.aio.compare(
                profile,
                candidate_toml=candidate_toml,
                candidate_profile=candidate_profile,
                candidate_shadow=candidate_shadow,
                k=k,
                page_size=page_size,
            )
        )


__all__ = ["SyncProfileCalls"]
