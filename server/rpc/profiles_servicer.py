"""ProfileService servicer: list, get, validate and reload profiles."""

from __future__ import annotations

import grpc
from prioscore.server.engine.model import Profile
from prioscore.server.errors import ProfileIssue
from prioscore.server.paging import decode_token, encode_token, fingerprint, page_size
from prioscore.server.profile import profile_digest, profile_to_toml
from prioscore.server.service import Service
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import profile_service_pb2_grpc as pb_grpc
from prioscore.v1 import types_pb2

Context = grpc.aio.ServicerContext


def summary(profile: Profile) -> pb.ProfileSummary:
    return pb.ProfileSummary(
        name=profile.name,
        version=profile.version,
        entity=profile.entity,
        description=profile.description,
        signal_names=profile.signal_names,
        tier_names=profile.tiers.names,
        digest=profile_digest(profile),
        source=profile.source,
    )


def issue(item: ProfileIssue) -> types_pb2.ProfileIssue:
    return types_pb2.ProfileIssue(file=item.file, line=item.line, key=item.key, reason=item.reason)


def detail(profile: Profile) -> pb.GetProfileResponse:
    signals = [
        pb.SignalDetail(
            name=s.name,
            event=s.event,
            aggregate=str(s.aggregate),
            weight=s.weight,
            cap=s.cap,
            half_life_days=s.half_life_days,
            window_days=s.window_days,
            missing=s.missing,
            match=[pb.SignalMatch(key=k, values=v) for k, v in s.match.items()],
            description=s.description,
        )
        for s in profile.signals
    ]
    tiers = [
        pb.TierThreshold(name=n, threshold=t)
        for n, t in zip(profile.tiers.names, profile.tiers.thresholds, strict=True)
    ]
    return pb.GetProfileResponse(
        profile=summary(profile),
        toml=profile_to_toml(profile),
        signals=signals,
        tier_mode=str(profile.tiers.mode),
        tiers=tiers,
        fit_weight=profile.fit_weight,
    )


class ProfileServicer(pb_grpc.ProfileServiceServicer):
    def __init__(self, service: Service) -> None:
        self.service = service

    async def ListProfiles(
        self, request: pb.ListProfilesRequest, context: Context
    ) -> pb.ListProfilesResponse:
        profiles = sorted(self.service.profiles.all(), key=lambda p: p.name)
        size = page_size(request.page_size, self.service.limits.max_page_size, default=100)
        query = fingerprint("profiles")
        position = decode_token(request.page_token, query)
        after = str(position[0]) if position else ""
        remaining = [p for p in profiles if p.name > after]
        page, more = remaining[:size], len(remaining) > size
        return pb.ListProfilesResponse(
            profiles=[summary(p) for p in page],
            next_page_token=encode_token(query, [page[-1].name]) if more else "",
        )

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: Context
    ) -> pb.GetProfileResponse:
        return detail(self.service.get_profile(request.name, "name"))

    async def ValidateProfile(
        self, request: pb.ValidateProfileRequest, context: Context
    ) -> pb.ValidateProfileResponse:
        profile, issues = self.service.profiles.validate(
            request.toml, request.filename or "<request>"
        )
        return pb.ValidateProfileResponse(
            valid=profile is not None,
            issues=[issue(i) for i in issues],
            profile=summary(profile) if profile is not None else None,
        )

    async def ReloadProfiles(
        self, request: pb.ReloadProfilesRequest, context: Context
    ) -> pb.ReloadProfilesResponse:
        result = self.service.reload_profiles()
        return pb.ReloadProfilesResponse(
            loaded=result.loaded, issues=[issue(i) for i in result.issues], applied=result.ok
        )


def add_to_server(server: grpc.aio.Server, service: Service) -> None:
    pb_grpc.add_ProfileServiceServicer_to_server(ProfileServicer(service), server)
