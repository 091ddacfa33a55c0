"""The profile half of AsyncPrioscoreClient: ProfileService (profiles, shadows, evaluation).

A base class of the client, like client_bulk (kept apart so each module stays small):
it only needs the client's ProfileService stub and its retried unary call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prioscore.v1 import profile_service_pb2 as profiles_pb
from prioscore.v1 import types_pb2


class ProfileCalls:
    """list / get / validate / reload, stage / promote / delete, backtest / calibrate /
    compare."""

    _profiles: Any  # profile_service_pb2_grpc.ProfileServiceStub

    async def _unary(self, name: str, method: Any, request: Any, *, retry: bool = True) -> Any:
        raise NotImplementedError  # AsyncPrioscoreClient's

    # -- profiles -----------------------------------------------------------------------

    async def list_profiles(self) -> list[profiles_pb.ProfileSummary]:
        """Every loaded profile, ordered by name (all pages)."""
        found: list[profiles_pb.ProfileSummary] = []
        token = ""
        while True:
            request = profiles_pb.ListProfilesRequest(page_size=1000, page_token=token)
            page = await self._unary("ListProfiles", self._profiles.ListProfiles, request)
            found.extend(page.profiles)
            token = page.next_page_token
            if not token:
                return found

    async def get_profile(self, name: str) -> profiles_pb.GetProfileResponse:
        """One profile with its TOML, signals (the feature column order) and tiers."""
        request = profiles_pb.GetProfileRequest(name=name)
        return await self._unary("GetProfile", self._profiles.GetProfile, request)

    async def validate_profile(
        self, toml: str, filename: str = ""
    ) -> profiles_pb.ValidateProfileResponse:
        """Checks profile TOML on the server; problems come back as `issues`, not errors."""
        request = profiles_pb.ValidateProfileRequest(toml=toml, filename=filename)
        return await self._unary("ValidateProfile", self._profiles.ValidateProfile, request)

    async def reload_profiles(self) -> profiles_pb.ReloadProfilesResponse:
        """Re-reads the server's profile files, all or nothing (admin scope)."""
        request = profiles_pb.ReloadProfilesRequest()
        return await self._unary("ReloadProfiles", self._profiles.ReloadProfiles, request)

    async def stage_profile(
        self, toml: str, filename: str = ""
    ) -> profiles_pb.StageProfileResponse:
        """Stages candidate TOML (a loaded profile's name, a higher version) as that
        profile's shadow "<name>@shadow", scored beside it on every ingest (admin scope).
        A bad candidate raises InvalidArgumentError with one violation per issue."""
        request = profiles_pb.StageProfileRequest(toml=toml, filename=filename)
        return await self._unary("StageProfile", self._profiles.StageProfile, request)

    async def promote_profile(
        self, name: str, shadow_version: int = 0
    ) -> profiles_pb.PromoteProfileResponse:
        """Makes the staged shadow of `name` its active version, atomically (admin scope).
        `shadow_version`: the version reviewed; AbortedError if another one is staged.
        Never retried: a repeat after a lost answer would report "nothing staged"."""
        request = profiles_pb.PromoteProfileRequest(name=name, shadow_version=shadow_version)
        return await self._unary(
            "PromoteProfile", self._profiles.PromoteProfile, request, retry=False
        )

    async def delete_shadow_profile(self, name: str) -> profiles_pb.DeleteShadowProfileResponse:
        """Discards the staged shadow of `name` (idempotent; admin scope)."""
        request = profiles_pb.DeleteShadowProfileRequest(name=name)
        return await self._unary("DeleteShadowProfile", self._profiles.DeleteShadowProfile, request)

    # -- evaluation ---------------------------------------------------------------------
    # Backtest, Calibrate and CompareProfiles are read-only by contract (nothing is stored
    # or loaded), so they carry the retry policy like the other reads.

    async def backtest(
        self,
        outcomes: Sequence[types_pb2.Outcome],
        *,
        profile: str = "",
        candidate_toml: str = "",
        k: int = 0,
        horizon_days: float = 0.0,
        shadow_profile: str = "",
    ) -> profiles_pb.BacktestResponse:
        """How well a loaded profile (by name) or candidate TOML ranked known outcomes.

        `candidate_toml`, when given, is backtested instead of `profile`;
        `shadow_profile` adds a comparison of the ranking with that loaded profile.
        """
        request = profiles_pb.BacktestRequest(
            outcomes=outcomes, k=k, horizon_days=horizon_days, shadow_profile=shadow_profile
        )
        if candidate_toml:
            request.candidate_toml = candidate_toml
        else:
            request.profile = profile
        return await self._unary("Backtest", self._profiles.Backtest, request)

    async def calibrate(
        self,
        profile: str,
        outcomes: Sequence[types_pb2.Outcome],
        *,
        l2: float = 0.0,
        horizon_days: float = 0.0,
        k: int = 0,
    ) -> profiles_pb.CalibrateResponse:
        """Fits a loaded profile's weights to outcomes; the candidate comes back unloaded."""
        request = profiles_pb.CalibrateRequest(
            profile=profile, outcomes=outcomes, l2=l2, horizon_days=horizon_days, k=k
        )
        return await self._unary("Calibrate", self._profiles.Calibrate, request)

    async def compare(
        self,
        profile: str,
        *,
        candidate_toml: str = "",
        candidate_profile: str = "",
        candidate_shadow: bool = False,
        k: int = 0,
        page_size: int = 0,
    ) -> profiles_pb.CompareProfilesResponse:
        """Shadow-compares a loaded profile with a candidate over the stored entities, as
        of now: candidate TOML, another loaded profile, or (`candidate_shadow`) the shadow
        staged for it. The largest tier moves come first."""
        request = profiles_pb.CompareProfilesRequest(profile=profile, k=k, page_size=page_size)
        if candidate_toml:
            request.candidate_toml = candidate_toml
        elif candidate_shadow:
            request.candidate_shadow = True
        else:
            request.candidate_profile = candidate_profile
        return await self._unary("CompareProfiles", self._profiles.CompareProfiles, request)


__all__ = ["ProfileCalls"]
