"""ProfileService servicer: list, get, validate, reload, backtest, calibrate, compare, and
the shadow calls (stage, promote, delete)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

import grpc
import numpy as np

from prioscore.server.engine import (
    DISQUALIFIED,
    BacktestReport,
    Combine,
    Direction,
    Profile,
    TierMode,
    fit_award,
)
from prioscore.server.errors import ProfileIssue
from prioscore.server.handlers import Outcomes, ProfileHandlers, StagedProfile
from prioscore.server.profiles import profile_digest, profile_to_toml
from prioscore.server.rpc import convert
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import profile_service_pb2_grpc as pb_grpc
from prioscore.v1 import types_pb2

Context = grpc.aio.ServicerContext


def summary(profile: Profile, shadow: StagedProfile | None = None) -> pb.ProfileSummary:
    """`shadow`: the candidate staged for this profile, if any (its version is shown)."""
    return pb.ProfileSummary(
        name=profile.name,
        version=profile.version,
        entity=profile.entity,
        description=profile.description,
        signal_names=profile.signal_names,
        tier_names=profile.tiers.names,
        digest=profile_digest(profile),
        source=display_name(profile.source),
        shadow_version=shadow.version if shadow is not None else 0,
        direction=_DIRECTIONS[profile.direction],
    )


def issue(item: ProfileIssue) -> types_pb2.ProfileIssue:
    return types_pb2.ProfileIssue(file=item.file, line=item.line, key=item.key, reason=item.reason)


def display_name(source: str) -> str:
    """A profile's file name without the server's directories: where the server keeps
    its files is no client's business (and tells an attacker about the host)."""
    return PurePath(source).name if source else source


def detail(
    profile: Profile, *, toml: str | None = None, shadow: StagedProfile | None = None
) -> pb.GetProfileResponse:
    """`toml`: the source text when it is at hand (a staged candidate's, as staged)."""
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
            scores=s.scores,
            relation=s.of.value if s.of else "",
            min_score=s.min_score,
            by=s.by,
            per_day=s.per_day,
            once_per=s.once_per,
            min_volume=s.min_volume,
        )
        for s in profile.signals
    ]
    grid = profile.tiers.mode is TierMode.GRID  # cells: see `grid`, no thresholds
    tiers = [
        pb.TierThreshold(name=n, threshold=t)
        for n, t in zip(profile.tiers.names, profile.tiers.thresholds, strict=not grid)
    ]
    return pb.GetProfileResponse(
        profile=summary(profile, shadow),
        toml=profile_to_toml(profile) if toml is None else toml,
        signals=signals,
        tier_mode=str(profile.tiers.mode),
        tiers=tiers,
        fit_weight=profile.fit_weight,
        members=profile.members,
        **contract(profile),
    )


_DIRECTIONS = {
    Direction.HIGHER_IS_BETTER: pb.SCORE_DIRECTION_HIGHER_IS_BETTER,
    Direction.HIGHER_IS_RISKIER: pb.SCORE_DIRECTION_HIGHER_IS_RISKIER,
}
_COMBINES = {Combine.BLEND: pb.COMBINE_MODE_BLEND, Combine.MULTIPLY: pb.COMBINE_MODE_MULTIPLY}


def contract(profile: Profile) -> dict[str, Any]:
    """The rest of the profile as typed fields: enough to reproduce a score from the RPC."""
    return {
        "categories": [
            pb.CategoryRule(
                name=c.name,
                property=c.property,
                equals=c.equals,
                prefixes=c.prefixes,
                contains=c.contains,
                eliminatory=c.eliminatory,
            )
            for c in profile.categories
        ],
        "fit": [
            pb.FitRule(
                attribute=f.attribute,
                points=dict(f.points),
                ranges=[pb.FitRange(min=r.low, max=r.high, points=r.points) for r in f.ranges],
                max_award=fit_award(f),
            )
            for f in profile.fit
        ],
        "disqualify": [
            pb.AttributeCondition(attribute=d.attribute, values=d.values, reason=d.reason)
            for d in profile.disqualify
        ],
        "scope": [
            pb.AttributeCondition(attribute=r.attribute, values=r.values, reason=r.reason)
            for r in profile.scope
        ],
        "alerts": pb.AlertHysteresis(
            margin=profile.hysteresis.margin,
            min_days_in_tier=profile.hysteresis.min_days_in_tier,
        ),
        "direction": _DIRECTIONS[profile.direction],
        "combine": _COMBINES[profile.combine],
        "max_points": profile.max_points,
        "fit_max_points": sum(fit_award(f) for f in profile.fit),
        "events": sorted(profile.event_types),
        "grid": pb.GridTiers(
            fit_grades=[pb.TierThreshold(name=n, threshold=t) for n, t in profile.tiers.grades],
            engagement_levels=[
                pb.TierThreshold(name=n, threshold=t) for n, t in profile.tiers.levels
            ],
        ),
    }


def outcomes_of(messages: Sequence[types_pb2.Outcome]) -> Outcomes:
    """Outcome messages as domain arrays; a missing outcome_time becomes NaN (rejected)."""
    times = np.array(
        [
            m.outcome_time.seconds + m.outcome_time.nanos * 1e-9
            if m.HasField("outcome_time")
            else math.nan
            for m in messages
        ],
        dtype=np.float64,
    )
    labels = np.array([m.label for m in messages], dtype=bool)
    return Outcomes([m.entity_id for m in messages], labels, times)


async def outcomes_off_the_loop(messages: Sequence[types_pb2.Outcome]) -> Outcomes:
    """outcomes_of, in a worker thread past convert.OFFLOAD_ROWS outcomes: it takes a
    Python step per outcome (~30 ms at 20k), in which the loop would serve nothing."""
    if len(messages) > convert.OFFLOAD_ROWS:
        return await asyncio.to_thread(outcomes_of, messages)
    return outcomes_of(messages)


def report_message(profile: Profile, report: BacktestReport) -> pb.BacktestReport:
    tiers = [
        pb.TierConversion(
            tier=t.tier,
            entities=t.entities,
            positives=t.positives,
            rate=t.rate if t.entities else 0.0,
        )
        for t in report.tiers
        if t.tier != DISQUALIFIED
    ]
    return pb.BacktestReport(
        profile=profile.name,
        auc=report.auc,
        precision_at_k=report.precision_at_k,
        k=report.k,
        lift_by_decile=[float(v) for v in report.lift_by_decile],
        tier_conversions=tiers,
        base_rate=report.base_rate,
        entities=report.entities,
        positives=sum(t.positives for t in report.tiers),
    )


class ProfileServicer(pb_grpc.ProfileServiceServicer):
    def __init__(self, handlers: ProfileHandlers) -> None:
        self.handlers = handlers

    async def ListProfiles(
        self, request: pb.ListProfilesRequest, context: Context
    ) -> pb.ListProfilesResponse:
        page = self.handlers.list_profiles(request.page_size, request.page_token)
        return pb.ListProfilesResponse(
            profiles=[summary(p, staged) for p, staged in page.profiles],
            next_page_token=page.next_page_token,
        )

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: Context
    ) -> pb.GetProfileResponse:
        view = self.handlers.get_profile(request.name)
        if view.toml is not None:  # "<name>@shadow" itself
            response = detail(view.profile, toml=view.toml)
            response.profile.name = view.name
            return response
        return detail(view.profile, shadow=view.shadow)

    async def ValidateProfile(
        self, request: pb.ValidateProfileRequest, context: Context
    ) -> pb.ValidateProfileResponse:
        profile, issues = self.handlers.validate_profile(request.toml, request.filename)
        return pb.ValidateProfileResponse(
            valid=profile is not None,
            issues=[issue(i) for i in issues],
            profile=summary(profile) if profile is not None else None,
        )

    async def ReloadProfiles(
        self, request: pb.ReloadProfilesRequest, context: Context
    ) -> pb.ReloadProfilesResponse:
        result = await self.handlers.areload_profiles()
        return pb.ReloadProfilesResponse(
            loaded=result.loaded, issues=[issue(i) for i in result.issues], applied=result.ok
        )

    async def Backtest(self, request: pb.BacktestRequest, context: Context) -> pb.BacktestResponse:
        subject = request.WhichOneof("subject")
        result = await self.handlers.abacktest(
            await outcomes_off_the_loop(request.outcomes),
            profile_name=request.profile if subject == "profile" else "",
            candidate_toml=request.candidate_toml if subject == "candidate_toml" else "",
            k=request.k,
            horizon_days=request.horizon_days,
            shadow_profile=request.shadow_profile,
        )
        response = pb.BacktestResponse(report=report_message(result.profile, result.report))
        if result.shadow is not None:
            c = result.shadow.comparison
            response.shadow.CopyFrom(
                pb.ShadowComparison(
                    baseline_profile=result.shadow.baseline.name,
                    top_k_overlap=c.top_k_overlap,
                    rank_correlation=c.rank_correlation,
                    tier_moves=int(c.tier_moves.size),
                )
            )
        return response

    async def Calibrate(
        self, request: pb.CalibrateRequest, context: Context
    ) -> pb.CalibrateResponse:
        result = await self.handlers.acalibrate(
            await outcomes_off_the_loop(request.outcomes),
            profile_name=request.profile,
            l2=request.l2,
            horizon_days=request.horizon_days,
            k=request.k,
        )
        calibration = result.calibration
        weights = [
            pb.FittedWeight(name=new.name, weight=new.weight, previous_weight=old.weight)
            for new, old in zip(calibration.candidate.signals, result.profile.signals, strict=True)
        ]
        return pb.CalibrateResponse(
            candidate_toml=result.candidate_toml,
            warnings=result.warnings,
            weights=weights,
            intercept=result.intercept_points,
            calibration=pb.ProbabilityCalibration(
                slope=calibration.score_slope, intercept=calibration.score_intercept
            ),
            candidate_report=report_message(calibration.candidate, result.candidate_report),
            current_report=report_message(result.profile, result.current_report),
        )

    async def CompareProfiles(
        self, request: pb.CompareProfilesRequest, context: Context
    ) -> pb.CompareProfilesResponse:
        which = request.WhichOneof("candidate")
        result = await self.handlers.acompare(
            profile_name=request.profile,
            candidate_toml=request.candidate_toml if which == "candidate_toml" else "",
            candidate_profile=request.candidate_profile if which == "candidate_profile" else "",
            candidate_shadow=which == "candidate_shadow" and request.candidate_shadow,
            k=request.k,
            limit=request.page_size,
        )
        c = result.comparison
        ids, from_tier, to_tier = result.entity_ids, result.from_tier, result.to_tier
        moves = [  # the bounded page only (at most 1000)
            pb.TierMove(entity_id=ids[i], from_tier=from_tier[i], to_tier=to_tier[i])
            for i in result.moves.tolist()
        ]
        return pb.CompareProfilesResponse(
            top_k_overlap=c.top_k_overlap,
            rank_correlation=c.rank_correlation,
            tier_moves=moves,
            tier_moves_total=result.moves_total,
            entities=len(ids),
        )

    async def StageProfile(
        self, request: pb.StageProfileRequest, context: Context
    ) -> pb.StageProfileResponse:
        result = await self.handlers.astage_profile(request.toml, request.filename)
        return pb.StageProfileResponse(
            shadow=summary(result.staged.candidate), entities_scored=result.entities_scored
        )

    async def PromoteProfile(
        self, request: pb.PromoteProfileRequest, context: Context
    ) -> pb.PromoteProfileResponse:
        result = await self.handlers.apromote_profile(request.name, request.shadow_version)
        return pb.PromoteProfileResponse(
            profile=summary(result.profile),
            previous_version=result.previous.version,
            entities_scored=result.entities_scored,
            tier_changes=len(result.tier_changes) + result.earlier_changes,
        )

    async def DeleteShadowProfile(
        self, request: pb.DeleteShadowProfileRequest, context: Context
    ) -> pb.DeleteShadowProfileResponse:
        dropped = await self.handlers.adelete_shadow_profile(request.name)
        return pb.DeleteShadowProfileResponse(
            deleted=dropped is not None, shadow_version=dropped.version if dropped else 0
        )


def add_to_server(server: grpc.aio.Server, handlers: ProfileHandlers) -> None:
    pb_grpc.add_ProfileServiceServicer_to_server(ProfileServicer(handlers), server)
