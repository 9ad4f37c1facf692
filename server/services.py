"""The service catalogue a volunteer picks from, grouped by skill (five skills, VNeID, BHXH)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from .models import Service, Skill

# (code, skill, Vietnamese name, English name). Codes never change once used.
CATALOGUE: list[tuple[str, Skill, str, str]] = [
    ("vneid_install", Skill.vneid, "Cài VNeID, đăng ký mức 1", "Install VNeID, level 1"),
    ("vneid_level2", Skill.vneid, "Chuẩn bị định danh mức 2", "Prepare for VNeID level 2"),
    ("vneid_activate", Skill.vneid, "Kích hoạt VNeID mức 2", "Activate VNeID level 2"),
    (
        "vneid_passcode",
        Skill.vneid,
        "Lấy lại mật khẩu, mã PIN VNeID",
        "Reset VNeID password or PIN",
    ),
    ("vneid_documents", Skill.vneid, "Tích hợp giấy tờ vào VNeID", "Add documents to VNeID"),
    (
        "dvc_login",
        Skill.public_services,
        "Đăng nhập Cổng Dịch vụ công",
        "Sign in to the public service portal",
    ),
    (
        "dvc_birth",
        Skill.public_services,
        "Khai sinh, thường trú, BHYT cho trẻ",
        "Birth, residence and child health insurance",
    ),
    (
        "dvc_death",
        Skill.public_services,
        "Khai tử, xóa thường trú, mai táng phí",
        "Death registration and funeral benefits",
    ),
    (
        "dvc_residence",
        Skill.public_services,
        "Đăng ký tạm trú, thường trú",
        "Temporary or permanent residence",
    ),
    (
        "dvc_criminal_record",
        Skill.public_services,
        "Phiếu lý lịch tư pháp",
        "Criminal-record certificate",
    ),
    (
        "dvc_driving_licence",
        Skill.public_services,
        "Đổi giấy phép lái xe",
        "Renew a driving licence",
    ),
    ("dvc_land", Skill.public_services, "Hồ sơ đất đai", "Land dossier"),
    ("dvc_track", Skill.public_services, "Tra cứu tiến độ hồ sơ", "Check a dossier's progress"),
    ("dvc_other", Skill.public_services, "Thủ tục hành chính khác", "Other public service"),
    (
        "bhxh_vssid",
        Skill.social_insurance,
        "Cài VssID, thẻ BHYT điện tử",
        "Install VssID, e-health card",
    ),
    (
        "bhyt_renew",
        Skill.social_insurance,
        "Gia hạn BHYT hộ gia đình",
        "Renew household health insurance",
    ),
    ("bhxh_voluntary", Skill.social_insurance, "BHXH tự nguyện", "Voluntary social insurance"),
    (
        "pay_electricity",
        Skill.payment,
        "Trả tiền điện không dùng tiền mặt",
        "Pay electricity without cash",
    ),
    (
        "pay_water",
        Skill.payment,
        "Trả tiền nước, học phí, viện phí",
        "Pay water, school or hospital fees",
    ),
    ("pay_bank_app", Skill.payment, "Cài ứng dụng ngân hàng", "Install a banking app"),
    ("pay_vietqr", Skill.payment, "Chuyển tiền bằng mã QR", "Pay by QR code"),
    (
        "pay_social_benefit",
        Skill.payment,
        "Nhận tiền trợ cấp qua tài khoản",
        "Receive benefits into an account",
    ),
    ("shop_buy", Skill.shopping, "Mua hàng trên mạng", "Buy online"),
    ("shop_sell", Skill.shopping, "Mở gian hàng bán nông sản", "Open a shop for farm produce"),
    ("safe_scam", Skill.safety, "Nhận biết cuộc gọi lừa đảo", "Spot scam calls"),
    (
        "safe_password",
        Skill.safety,
        "Mật khẩu mạnh, không đưa mã OTP",
        "Strong password, never share OTP",
    ),
    ("safe_zalo", Skill.safety, "Dùng Zalo an toàn", "Use Zalo safely"),
    (
        "local_platform",
        Skill.local_platforms,
        "Nền tảng số của xã",
        "The commune's digital platforms",
    ),
    (
        "local_feedback",
        Skill.local_platforms,
        "Gửi phản ánh, kiến nghị",
        "Send feedback to the commune",
    ),
]


def load_services(session: Session) -> int:
    """Add catalogue entries not yet stored and refresh names of the others."""
    have = {s.code: s for s in session.exec(select(Service)).all()}
    new = []
    for sort, (code, skill, vi, en) in enumerate(CATALOGUE):
        if code in have:
            s = have[code]
            s.skill, s.name_vi, s.name_en, s.sort = skill, vi, en, sort
            session.add(s)
        else:
            new.append({"code": code, "skill": skill, "name_vi": vi, "name_en": en, "sort": sort})
    if new:
        session.execute(sa.insert(Service), new)
    return len(new)
