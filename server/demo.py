"""Demo data for `langso seed-demo`: one commune's team at work over the last six months.

Clearly marked: every village and member name ends in "(demo)", household codes start with
DEMO-. Loaded only when asked, only into a commune that has no village and no member yet, and
never twice. Rows go in with bulk inserts, each with its own sync `seq`.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from . import accounts
from .db import utcnow
from .i18n import TZ
from .models import (
    AssistanceSession,
    AuditEvent,
    Commune,
    Household,
    Member,
    ReviewState,
    Role,
    SessionService,
    Skill,
    Village,
    VillageChange,
)
from .services import CATALOGUE
from .sync import next_seqs
from .text import fold

COMMUNE = "07627"  # Xã Đại Sơn, Bắc Ninh
MARK = "(demo)"
COORDINATOR_PHONE = "0900999000"
VOLUNTEER_PHONES = [f"09009990{i:02d}" for i in range(1, 9)]
VILLAGES = ["Đồng Bái", "Khuôn Thần", "Đá Cối", "Đồng Rì", "Tân Lập", "Thanh Chung"]
COORDINATOR = "Nguyễn Thị Hương"
VOLUNTEERS = [
    "Hoàng Văn Minh",  # village head
    "Lục Thị Thu",
    "Trần Đức Anh",  # ward police officer
    "Vi Văn Hải",
    "Nông Thị Lan",
    "Phạm Quang Huy",  # Youth Union
    "Lương Thị Ngọc",
    "Đặng Văn Tùng",
]
HOUSEHOLDS = 300
SESSIONS = 2000
DAYS = 182

FAMILY = ["Nguyễn", "Trần", "Hoàng", "Lục", "Vi", "Nông", "Phạm", "Lương", "Đặng", "Hà", "Lê"]
FAMILY += ["Chu", "Dương", "Bế", "Triệu", "Ngô"]
MEN = ["Văn An", "Văn Bình", "Văn Cường", "Đức Dũng", "Văn Hải", "Văn Hùng", "Quang Khải"]
MEN += ["Văn Long", "Văn Nam", "Văn Phúc", "Minh Quân", "Văn Sơn", "Văn Thắng", "Văn Tuấn"]
WOMEN = ["Thị Bích", "Thị Dung", "Thị Hà", "Thị Hạnh", "Thị Hoa", "Thị Lan", "Thị Liên"]
WOMEN += ["Thị Mai", "Thị Nga", "Thị Nhung", "Thị Phượng", "Thị Thảo", "Thị Thu", "Thị Yến"]
PREFIXES = ["090", "091", "094", "096", "097", "098", "086", "088", "032", "035", "039", "081"]

# How often each service is asked for, and how it tends to go wrong.
DEMAND: dict[str, int] = {
    "vneid_install": 14,
    "vneid_level2": 6,
    "vneid_activate": 9,
    "vneid_passcode": 5,
    "vneid_documents": 5,
    "dvc_login": 6,
    "dvc_birth": 5,
    "dvc_death": 1,
    "dvc_residence": 4,
    "dvc_criminal_record": 3,
    "dvc_driving_licence": 2,
    "dvc_land": 2,
    "dvc_track": 3,
    "dvc_other": 2,
    "bhxh_vssid": 7,
    "bhyt_renew": 6,
    "bhxh_voluntary": 1,
    "pay_electricity": 8,
    "pay_water": 3,
    "pay_bank_app": 6,
    "pay_vietqr": 4,
    "pay_social_benefit": 3,
    "shop_buy": 2,
    "shop_sell": 2,
    "safe_scam": 9,
    "safe_password": 4,
    "safe_zalo": 4,
    "local_platform": 3,
    "local_feedback": 2,
}
TROUBLE: dict[str, list[str]] = {
    "vneid": ["needs_police", "no_smartphone", "missing_papers", "system_error"],
    "public_services": ["missing_papers", "system_error", "no_signal", "other"],
    "social_insurance": ["system_error", "missing_papers", "no_signal"],
    "payment": ["no_smartphone", "system_error", "no_signal", "other"],
    "shopping": ["no_smartphone", "other"],
    "safety": ["no_smartphone", "other"],
    "local_platforms": ["no_signal", "system_error", "other"],
}
DOSSIERS = {
    "dvc_birth",
    "dvc_death",
    "dvc_residence",
    "dvc_criminal_record",
    "dvc_driving_licence",
    "dvc_land",
    "dvc_other",
}
GUIDES = {
    "vneid_install": "vneid-cai-dat-dang-ky-muc-1",
    "vneid_level2": "vneid-chuan-bi-muc-2",
    "vneid_documents": "vneid-tich-hop-giay-to",
    "dvc_login": "dang-nhap-dich-vu-cong-bang-vneid",
    "dvc_birth": "lien-thong-khai-sinh-thuong-tru-bhyt",
    "dvc_criminal_record": "ly-lich-tu-phap-qua-vneid",
    "dvc_driving_licence": "doi-giay-phep-lai-xe-truc-tuyen",
    "dvc_track": "tra-cuu-ho-so-bang-ma",
    "bhxh_vssid": "vssid-the-bhyt-dien-tu",
    "pay_electricity": "tra-tien-dien-khong-dung-tien-mat",
    "pay_vietqr": "thanh-toan-bang-vietqr",
    "shop_sell": "mo-gian-hang-ban-nong-san",
    "shop_buy": "mua-hang-tren-mang-an-toan",
    "safe_scam": "nhan-biet-cuoc-goi-lua-dao",
    "safe_password": "mat-khau-manh-khong-dua-otp",
    "safe_zalo": "dung-zalo-an-toan",
    "local_platform": "nen-tang-so-cua-xa",
}
NOTES = [
    "",
    "",
    "",
    "Bác chưa có điện thoại thông minh, con trai về vào Chủ nhật sẽ cài tiếp.",
    "Hẹn tuần sau mang giấy khai sinh của cháu.",
    "Đã nộp hồ sơ trên Cổng Dịch vụ công, chờ UBND xã duyệt.",
    "Hướng dẫn không đọc mã OTP cho ai, kể cả người xưng là công an.",
    "Sóng yếu ở cuối xóm, ra nhà văn hóa thôn làm tiếp.",
    "Cô đã tự thanh toán được tiền điện tháng này.",
    "Cần lên công an xã để xác thực mức 2.",
    "Cả nhà cùng nghe hướng dẫn, con dâu ghi lại các bước.",
]
RETURN_COMMENTS = [
    "Thiếu mã hồ sơ, bạn bổ sung giúp.",
    "Ghi rõ lý do chưa làm xong.",
    "Kiểm tra lại số người được hỗ trợ.",
    "Chọn đúng hộ gia đình, không phải khách vãng lai.",
]
FIVE = {Skill.public_services, Skill.shopping, Skill.payment, Skill.safety, Skill.local_platforms}


class DemoError(RuntimeError):
    """The demo cannot be loaded here; the message says why."""


@dataclass
class DemoSummary:
    commune: Commune
    phone: str
    password: str
    volunteer_phones: list[str]
    villages: int
    volunteers: int
    households: int
    sessions: int
    lines: int


def _uid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _name(rng: random.Random) -> str:
    given = rng.choice(MEN if rng.random() < 0.55 else WOMEN)
    return f"{rng.choice(FAMILY)} {given}"


def _check(session: Session, code: str) -> Commune:
    commune = session.get(Commune, code)
    if commune is None:
        raise DemoError(f"There is no commune with the code {code}.")
    phones = [accounts.clean_phone(p) for p in [COORDINATOR_PHONE, *VOLUNTEER_PHONES]]
    if session.exec(select(Member.id).where(col(Member.phone).in_(phones))).first():
        raise DemoError("The demo data is already loaded (its members exist): nothing was done.")
    members = session.exec(
        select(func.count()).select_from(Member).where(Member.commune_code == code)
    ).one()
    places = session.exec(
        select(func.count()).select_from(Village).where(Village.commune_code == code)
    ).one()
    if members or places:
        raise DemoError(
            f"Commune {code} already has members or villages: the demo goes only into a commune "
            "that is not used yet. Nothing was done."
        )
    return commune


def seed_demo(
    session: Session, code: str = COMMUNE, now: datetime | None = None, seed: int = 2026
) -> DemoSummary:
    """Load the demo commune inside the caller's write transaction."""
    commune = _check(session, code)
    rng = random.Random(seed)
    now = now or utcnow()
    today = now.astimezone(TZ).date()
    password = secrets.token_urlsafe(9)
    password_hash = accounts.hash_password(password)

    coordinator = accounts.create_member(
        session,
        name=f"{COORDINATOR} {MARK}",
        phone=COORDINATOR_PHONE,
        role=Role.coordinator,
        commune_code=code,
    )
    volunteers = [
        accounts.create_member(
            session, name=f"{n} {MARK}", phone=p, role=Role.volunteer, commune_code=code
        )
        for n, p in zip(VOLUNTEERS, VOLUNTEER_PHONES, strict=True)
    ]
    for m in (coordinator, *volunteers):
        m.password_hash = password_hash
        session.add(m)
    session.flush()

    first = next_seqs(session, len(VILLAGES) + HOUSEHOLDS + SESSIONS)
    seqs = iter(range(first, first + len(VILLAGES) + HOUSEHOLDS + SESSIONS))
    start = now - timedelta(days=DAYS)

    villages = []
    for name in VILLAGES:
        full = f"Thôn {name} {MARK}"
        villages.append(
            {
                "id": _uid(rng),
                "commune_code": code,
                "name": full,
                "name_key": fold(full),
                "version": 1,
                "seq": next(seqs),
                "created_at": start,
                "updated_at": start,
            }
        )
    session.execute(sa.insert(Village), villages)
    session.execute(
        sa.insert(VillageChange),
        [
            {
                "village_id": v["id"],
                "kind": "created",
                "new_name": v["name"],
                "member_id": coordinator.id,
                "at": start,
            }
            for v in villages
        ],
    )
    village_ids = [v["id"] for v in villages]
    # Eight volunteers for six villages: the two biggest villages have two each.
    team = {vid: [volunteers[i]] for i, vid in enumerate(village_ids)}
    team[village_ids[0]].append(volunteers[6])
    team[village_ids[1]].append(volunteers[7])

    households = []
    for n in range(1, HOUSEHOLDS + 1):
        vid = rng.choices(village_ids, weights=[24, 20, 16, 15, 13, 12])[0]
        head = _name(rng)
        consent = start + timedelta(days=rng.uniform(0, DAYS * 0.8), hours=rng.uniform(1, 10))
        by = rng.choice(team[vid]).id
        phone = None
        if rng.random() < 0.6:
            phone = accounts.clean_phone(rng.choice(PREFIXES) + f"{rng.randrange(10**7):07d}")
        households.append(
            {
                "id": _uid(rng),
                "commune_code": code,
                "village_id": vid,
                "code": f"DEMO-{n:04d}",
                "head_name": head,
                "head_name_key": fold(head),
                "phone": phone,
                "consent_at": consent,
                "consent_by": by,
                "skills": set(),
                "version": 1,
                "seq": next(seqs),
                "created_at": consent,
                "updated_at": consent,
                "created_by": by,
                "updated_by": by,
            }
        )

    skill_of = {c: str(s) for c, s, *_ in CATALOGUE}
    services, weights = list(DEMAND), list(DEMAND.values())
    days = [start + timedelta(days=d) for d in range(DAYS)]
    ramp = [1 + 2 * d / DAYS for d in range(DAYS)]  # the team gets busier month after month
    sessions: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    dossier_no = 0
    for _ in range(SESSIONS):
        local = days[rng.choices(range(DAYS), weights=ramp)[0]].astimezone(TZ).date()
        at = datetime.combine(local, time(rng.randrange(7, 20), rng.randrange(60)), TZ)
        at = min(at.astimezone(UTC), now - timedelta(minutes=5))
        household = rng.choice(households) if rng.random() < 0.88 else None
        if household and household["consent_at"] > at:  # consent is asked at the first visit
            household["consent_at"] = household["created_at"] = at - timedelta(minutes=10)
            household["updated_at"] = household["consent_at"]
        vid = household["village_id"] if household else rng.choice(village_ids)
        volunteer = rng.choice(team[vid] if rng.random() < 0.85 else volunteers)
        sid = _uid(rng)
        not_done = False
        picked = rng.choices(services, weights, k=rng.choices([1, 2, 3], [55, 32, 13])[0])
        for service in dict.fromkeys(picked):
            skill = skill_of[service]
            fail = 0.45 if service in ("vneid_activate", "vneid_level2") else 0.2
            outcome, reason, dossier = "done", None, None
            if rng.random() < fail:
                outcome = "not_finished" if rng.random() < 0.6 else "could_not"
                reason = rng.choice(TROUBLE[skill])
                if service in ("vneid_activate", "vneid_level2") and rng.random() < 0.6:
                    reason = "needs_police"
                not_done = True
            else:
                if service in DOSSIERS:
                    dossier_no += 1
                    dossier = f"H24.46-{at.astimezone(TZ):%y%m%d}-{dossier_no:04d}"
                if household and skill in FIVE:
                    household["skills"].add(skill)
            lines.append(
                {
                    "session_id": sid,
                    "service_code": service,
                    "outcome": outcome,
                    "reason": reason,
                    "dossier_code": dossier,
                }
            )
        follow_up_on, follow_up_done = None, None
        if not_done and rng.random() < 0.7:
            follow_up_on = local + timedelta(days=rng.randrange(3, 15))
            if follow_up_on < today - timedelta(days=2) and rng.random() < 0.85:
                follow_up_done = datetime.combine(follow_up_on, time(16), TZ).astimezone(UTC)
        row = _session_row(rng, sid, code, at, now, volunteer.id, coordinator.id, next(seqs))
        row.update(
            village_id=vid,
            household_id=household["id"] if household else None,
            follow_up_on=follow_up_on,
            follow_up_done_at=follow_up_done,
            guide_slug=GUIDES.get(picked[0]) if rng.random() < 0.4 else None,
        )
        sessions.append(row)
    for h in households:
        h["skills"] = sorted(h["skills"])
    session.execute(sa.insert(Household), households)
    session.execute(sa.insert(AssistanceSession), sessions)
    session.execute(sa.insert(SessionService), lines)
    session.add(
        AuditEvent(
            actor_id=None,
            action="demo.loaded",
            target_type="commune",
            target_id=code,
            commune_code=code,
            detail={"sessions": SESSIONS, "households": HOUSEHOLDS},
        )
    )
    return DemoSummary(
        commune=commune,
        phone=coordinator.phone,
        password=password,
        volunteer_phones=[v.phone for v in volunteers],
        villages=len(villages),
        volunteers=len(volunteers),
        households=len(households),
        sessions=len(sessions),
        lines=len(lines),
    )


def _session_row(
    rng: random.Random,
    sid: uuid.UUID,
    code: str,
    at: datetime,
    now: datetime,
    volunteer: uuid.UUID,
    coordinator: uuid.UUID,
    seq: int,
) -> dict[str, Any]:
    """A session as the volunteer logged it and the coordinator reviewed it."""
    old = now - at > timedelta(days=7)
    state = rng.choices(
        [ReviewState.approved, ReviewState.returned, ReviewState.new],
        [93, 3, 4] if old else [17, 3, 80],
    )[0]
    reviewed_at = min(at + timedelta(days=rng.uniform(0.2, 3)), now) if state != "new" else None
    return {
        "id": sid,
        "commune_code": code,
        "volunteer_id": volunteer,
        "occurred_at": at,
        "minutes": rng.randrange(5, 45),
        "people_helped": rng.choices([1, 2, 3, 4], [62, 25, 9, 4])[0],
        "notes": rng.choice(NOTES),
        "review_state": state,
        "review_comment": rng.choice(RETURN_COMMENTS) if state == ReviewState.returned else "",
        "reviewed_by": coordinator if reviewed_at else None,
        "reviewed_at": reviewed_at,
        "conflict": False,
        "version": 2 if reviewed_at else 1,
        "seq": seq,
        "created_at": at + timedelta(minutes=2),
        "updated_at": reviewed_at or at + timedelta(minutes=2),
        "deleted_at": None,
        "created_by": volunteer,
        "updated_by": volunteer,
    }
