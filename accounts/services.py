"""Writes about accounts and cards."""

import csv
import io
import itertools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import IO, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.hooks import id_tags_changed
from accounts.models import CustomerAccount, IdTag, Organization, User
from accounts.roles import operator_group_ensure
from accounts.selectors import id_tags_taken
from accounts.uids import IdTagKind, id_tag_normalize, id_tag_presented, validate_id_tag
from core.moments import LATEST, validate_moment_in_range


@transaction.atomic
def id_tag_block(*, id_tag: IdTag, status: str = IdTag.Status.BLOCKED, at: datetime | None = None) -> IdTag:
    """Block a card (or mark it lost) at once; the next Authorize is refused."""
    if status not in (IdTag.Status.BLOCKED, IdTag.Status.LOST):
        raise ValueError(f"Cannot block a card with status {status!r}.")
    tag = IdTag.objects.select_for_update().get(pk=id_tag.pk)
    if tag.status == IdTag.Status.LOST and status != IdTag.Status.LOST:
        raise ValueError("A lost card stays lost (merely blocked, it could be unblocked).")
    tag.status = status
    tag.blocked_at = tag.blocked_at or at or timezone.now()
    tag.save(update_fields=["status", "blocked_at"])
    id_tags_changed(id_tag_ids=[tag.pk, *tag.children.values_list("pk", flat=True)])
    return tag


def id_tag_mark_lost(*, id_tag: IdTag, user: User) -> IdTag:
    """A driver reports one of their own cards lost; it is blocked immediately."""
    if id_tag.owner_id != user.pk:
        raise PermissionDenied("Only the card's driver can report it lost.")
    return id_tag_block(id_tag=id_tag, status=IdTag.Status.LOST)


def id_tag_issue(
    *,
    customer_account: CustomerAccount,
    uid: str,
    kind: str = IdTagKind.RFID,
    label: str = "",
    owner: User | None = None,
    parent: IdTag | None = None,
    expires_at: datetime | None = None,
    max_concurrent_sessions: int = 1,
) -> IdTag:
    """An operator issues one card (or another kind of id tag) to a customer account, optionally to one of its
    drivers, under a group card."""
    tag = IdTag(
        kind=kind,
        uid=id_tag_normalize(uid, kind),
        label=label,
        customer_account=customer_account,
        owner=owner,
        parent=parent,
        expires_at=expires_at,
        max_concurrent_sessions=max_concurrent_sessions,
    )
    errors: dict[str, list[str]] = {}
    if owner is not None and owner.customer_account_id != customer_account.pk:
        errors["owner"] = [_("This driver belongs to another customer account.")]
    if parent is not None and parent.customer_account.organization_id != customer_account.organization_id:
        errors["parent"] = [_("The group card belongs to another operator.")]
    try:
        tag.full_clean()
    except ValidationError as exc:
        errors = {**exc.message_dict, **errors}
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError as exc:
        if not id_tags_taken(uids=[tag.uid]):
            raise  # not the same UID registered meanwhile: a real error
        raise ValidationError({"uid": [_("Card %(uid)s is already registered.") % {"uid": tag.uid}]}) from exc
    id_tags_changed(id_tag_ids=[tag.pk])
    return tag


@transaction.atomic
def id_tag_unblock(*, id_tag: IdTag) -> IdTag:
    """An operator reactivates a blocked card (a lost one is replaced instead, as it may be cloned)."""
    tag = IdTag.objects.select_for_update().get(pk=id_tag.pk)
    if tag.status == IdTag.Status.LOST:
        raise ValueError("A lost card stays blocked: issue a new card instead.")
    tag.status = IdTag.Status.ACTIVE
    tag.blocked_at = None
    tag.save(update_fields=["status", "blocked_at"])
    id_tags_changed(id_tag_ids=[tag.pk, *tag.children.values_list("pk", flat=True)])
    return tag


@transaction.atomic
def driver_register(*, user: User, organization: Organization, full_name: str) -> User:
    """A new driver pays for themself: give them a person customer account at the operator."""
    first, _, last = full_name.strip().partition(" ")
    user.first_name, user.last_name = first, last.strip()
    account = CustomerAccount.objects.create(
        organization=organization,
        kind=CustomerAccount.Kind.PERSON,
        name=full_name.strip(),
        billing_email=user.email,
    )
    user.customer_account = account
    user.save()
    return user


def user_profile_update(*, user: User, first_name: str, last_name: str, language: str) -> User:
    """What a person changes on their own profile: their name and the language of pages and statements."""
    if language not in dict(settings.LANGUAGES):
        raise ValidationError(_("Not a language of this site."), code="language")
    user.first_name, user.last_name, user.language = first_name.strip(), last_name.strip(), language
    user.save(update_fields=["first_name", "last_name", "language"])
    return user


@transaction.atomic
def staff_create(
    *, email: str, password: str | None, organization: Organization, first_name: str = "", last_name: str = ""
) -> User:
    """A new operator staff member: admin access to their organization's data only."""
    user = User.objects.create_user(
        email=email,
        password=password,
        is_staff=True,
        organization=organization,
        first_name=first_name,
        last_name=last_name,
    )
    staff_role_sync(user=user)
    return user


def staff_role_sync(*, user: User) -> None:
    """Operator staff belong to the operator staff group; nobody else does."""
    group = operator_group_ensure()
    if user.is_operator_staff and not user.is_superuser:
        user.groups.add(group)
    else:
        user.groups.remove(group)


CARD_IMPORT_COLUMNS = (
    "uid",
    "kind",
    "label",
    "account_email",
    "owner_email",
    "expires_at",
    "max_concurrent_sessions",
    "parent_uid",
)
#: Lines checked and written together: one query per lookup and one INSERT per chunk, not per line.
CARD_IMPORT_CHUNK = 1000
#: Problems listed in the answer; the rest are only counted.
CARD_IMPORT_ERRORS_SHOWN = 50


@dataclass(frozen=True)
class CardImportError:
    row: int  # line in the file, the header being line 1; 0 for the file as a whole
    message: str


@dataclass
class CardImportResult:
    """What an import did: cards created (all or none), card lines read, and its problems (the first
    CARD_IMPORT_ERRORS_SHOWN listed, all counted)."""

    created: int = 0
    lines: int = 0
    errors: list[CardImportError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return not self.error_count

    @property
    def errors_not_shown(self) -> int:
        return self.error_count - len(self.errors)

    def refuse(self, error: CardImportError) -> None:
        self.error_count += 1
        if len(self.errors) < CARD_IMPORT_ERRORS_SHOWN:
            self.errors.append(error)


class _Unreadable(Exception):
    """The file as a whole cannot be read as a card list: this one error is the answer."""

    def __init__(self, row: int, message: str):
        super().__init__(message)
        self.error = CardImportError(row, message)


def _text_lines(csv_file: IO[bytes] | IO[str]) -> Iterator[str]:
    """The file's lines, decoded as they are read (UTF-8, a BOM dropped); the file is never read whole."""
    lines: Iterator[str]
    if isinstance(csv_file.read(0), str):
        lines = iter(cast(IO[str], csv_file))
    else:
        lines = io.TextIOWrapper(cast(IO[bytes], csv_file), encoding="utf-8-sig", newline="")
    try:
        for line in lines:
            if "\x00" in line:
                raise _Unreadable(0, _("The file is not UTF-8 text."))
            yield line.removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise _Unreadable(0, _("The file is not UTF-8 text.")) from exc
    finally:
        if isinstance(lines, io.TextIOWrapper):
            lines.detach()  # the caller's file stays open


def _card_rows(csv_file: IO[bytes] | IO[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, cells by column) for each non-blank line; raises _Unreadable for a file that is no card list."""
    lines = _text_lines(csv_file)
    head: list[str] = []
    for line in lines:  # enough of the start to tell ; from ,
        head.append(line)
        if sum(map(len, head)) >= 4096:
            break
    try:
        delimiter = csv.Sniffer().sniff("".join(head)[:4096], delimiters=";,").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(itertools.chain(head, lines), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as exc:
        raise _Unreadable(1, _("Not readable as CSV: %(error)s.") % {"error": exc}) from exc
    unknown = [name for name in header if name not in CARD_IMPORT_COLUMNS]
    if "uid" not in header:
        raise _Unreadable(1, _("The first line must name the columns, among them uid."))
    if unknown:
        raise _Unreadable(1, _("Unknown columns: %(columns)s.") % {"columns": ", ".join(unknown)})
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                raise _Unreadable(reader.line_num, _("More cells than columns."))
            yield reader.line_num, {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
    except csv.Error as exc:  # e.g. a field longer than the csv module's limit
        raise _Unreadable(reader.line_num, _("Not readable as CSV: %(error)s.") % {"error": exc}) from exc


def _parse_expiry(value: str) -> datetime:
    """An ISO date (valid through that day) or date-time; naive ones are in settings.TIME_ZONE."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=zone)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


class _Rollback(Exception):
    """Some line was refused: nothing of the file is kept."""


@dataclass
class _CardImport:
    """One import's state across its chunks: what the file has named so far and what is waiting to be written."""

    organization: Organization
    result: CardImportResult
    seen: set[str] = field(default_factory=set)  # UIDs of the lines so far, upper case (as uniqueness compares)
    parent_pks: dict[str, int] = field(default_factory=dict)  # group cards looked up so far, by upper-case UID
    pending: list[IdTag] = field(default_factory=list)
    pending_uids: set[str] = field(default_factory=set)

    def chunk(self, rows: list[tuple[int, dict[str, str]]]) -> None:
        """Check a chunk of lines against the database in one query per lookup; queue the good ones."""
        organization = self.organization
        kinds = [row.get("kind", "").lower() or IdTagKind.RFID for _line, row in rows]
        uids = [id_tag_normalize(row.get("uid", ""), kind) for (_line, row), kind in zip(rows, kinds, strict=True)]
        # A group card is named as a charger would present it: an RFID UID in any notation, another tag as it is.
        parent_uids = [id_tag_presented(row.get("parent_uid", "")).upper() for _line, row in rows]
        taken = id_tags_taken(uids=uids)
        self.parent_pks.update(
            IdTag.objects.alias(key=Upper("uid"))
            .filter(
                key__in=[uid for uid in parent_uids if uid and uid not in self.parent_pks],
                customer_account__organization=organization,
            )
            .values_list(Upper("uid"), "pk")
        )
        accounts: dict[str, list[CustomerAccount]] = {}
        for account in CustomerAccount.objects.filter(
            organization=organization,
            billing_email__in=[row.get("account_email", "").lower() for _l, row in rows],
        ):
            accounts.setdefault(account.billing_email.lower(), []).append(account)
        owners = {
            user.email: user
            for user in User.objects.select_related("customer_account").filter(
                email__in=[row.get("owner_email", "").lower() for _line, row in rows],
                customer_account__organization=organization,
            )
        }
        for (line, row), kind, uid, parent_uid in zip(rows, kinds, uids, parent_uids, strict=True):
            tag = self._checked(line, row, kind, uid, parent_uid, taken=taken, accounts=accounts, owners=owners)
            if tag is not None and self.result.ok:
                self._queue(tag, parent_uid)

    def _checked(
        self,
        line: int,
        row: dict[str, str],
        kind: str,
        uid: str,
        parent_uid: str,
        *,
        taken: set[str],
        accounts: dict[str, list[CustomerAccount]],
        owners: dict[str, User],
    ) -> IdTag | None:
        """The card a line describes, or None with its problems recorded."""
        problems: list[str] = []
        if kind in IdTagKind.values:
            try:
                validate_id_tag(uid, kind)
            except ValidationError as exc:
                problems.extend(exc.messages)
        else:
            problems.append(
                _("Unknown kind %(kind)s; use one of %(kinds)s.") % {"kind": kind, "kinds": ", ".join(IdTagKind.values)}
            )
        key = uid.upper()
        if key in self.seen:
            problems.append(_("Card %(uid)s appears twice in the file.") % {"uid": uid})
        elif key in taken:
            problems.append(_("Card %(uid)s is already registered.") % {"uid": uid})
        self.seen.add(key)

        account = owner = None
        account_email = row.get("account_email", "").lower()
        owner_email = row.get("owner_email", "").lower()
        if account_email:
            matches = accounts.get(account_email, [])
            if len(matches) == 1:
                account = matches[0]
            elif matches:
                problems.append(_("Several customer accounts have billing email %(email)s.") % {"email": account_email})
            else:
                problems.append(_("No customer account with billing email %(email)s.") % {"email": account_email})
        if owner_email:
            owner = owners.get(owner_email)
            if owner is None:
                problems.append(_("No driver with email %(email)s.") % {"email": owner_email})
            elif account is None and not account_email:
                account = owner.customer_account
            elif account is not None and owner.customer_account_id != account.pk:
                problems.append(_("Driver %(email)s belongs to another customer account.") % {"email": owner_email})
        if not account_email and not owner_email:
            problems.append(_("Give account_email or owner_email."))

        expires_at = None
        if row.get("expires_at"):
            try:
                expires_at = _parse_expiry(row["expires_at"])
            except ValueError:
                problems.append(
                    _("expires_at is not an ISO date or date-time: %(value)s.") % {"value": row["expires_at"]},
                )
            except OverflowError:  # the day after 9999-12-31
                expires_at = LATEST
            try:
                validate_moment_in_range(expires_at)
            except ValidationError as exc:
                problems.append(
                    _("expires_at %(value)s: %(problem)s") % {"value": row["expires_at"], "problem": exc.messages[0]}
                )
        max_concurrent = 1
        if row.get("max_concurrent_sessions"):
            try:
                max_concurrent = int(row["max_concurrent_sessions"])
            except ValueError:
                max_concurrent = 0
            if not 1 <= max_concurrent <= 32767:
                problems.append(_("max_concurrent_sessions must be a whole number from 1."))
        if parent_uid and parent_uid not in self.parent_pks and (parent_uid not in self.seen or parent_uid == key):
            problems.append(_("Group card %(uid)s is neither registered nor on an earlier line.") % {"uid": parent_uid})

        label = row.get("label", "")
        if len(label) > cast(int, IdTag._meta.get_field("label").max_length):  # a CharField with a max_length
            problems.append(_("The label is too long."))
        for problem in problems:
            self.result.refuse(CardImportError(line, problem))
        if problems:
            return None
        return IdTag(
            kind=kind,
            uid=uid,
            label=label,
            customer_account=account,
            owner=owner,
            expires_at=expires_at,
            max_concurrent_sessions=max_concurrent,
        )

    def _queue(self, tag: IdTag, parent_uid: str) -> None:
        if parent_uid:
            if parent_uid in self.pending_uids:  # its group card is still to be written: write it first
                self.flush()
            if parent_uid not in self.parent_pks:  # a group card of this file, written in an earlier chunk
                written = IdTag.objects.alias(key=Upper("uid")).values_list("pk", flat=True)
                self.parent_pks[parent_uid] = written.get(key=parent_uid)
            tag.parent_id = self.parent_pks[parent_uid]
        self.pending.append(tag)
        self.pending_uids.add(tag.uid.upper())

    def flush(self) -> None:
        """Write the queued cards in one INSERT (in batches the database takes)."""
        if not self.pending:
            return
        try:
            with transaction.atomic():  # a savepoint: the check below must still be able to query
                IdTag.objects.bulk_create(self.pending)
            id_tags_changed(id_tag_ids=[tag.pk for tag in self.pending])  # told only if the import commits
        except IntegrityError:
            if not id_tags_taken(uids=list(self.pending_uids)):
                raise  # no card registered meanwhile by someone else: a real error
            self.result.refuse(CardImportError(0, _("Some cards were registered meanwhile; try again.")))
            raise _Rollback from None
        self.result.created += len(self.pending)
        self.pending, self.pending_uids = [], set()


def id_tags_import_csv(*, organization: Organization, csv_file: IO[bytes] | IO[str]) -> CardImportResult:
    """Issue many cards at once from a CSV file; all of them or, on any error, none.

    Columns (header line required, ``;`` or ``,``): uid, kind (an IdTagKind value, rfid when
    empty or absent), label, account_email (the
    customer account's billing email), owner_email (a driver), expires_at,
    max_concurrent_sessions, parent_uid (an existing card or one on an earlier line).
    Each line needs account_email or owner_email; both must be of ``organization``.

    The file is read and checked CARD_IMPORT_CHUNK lines at a time and the cards written with one
    INSERT per chunk, in one transaction rolled back at the first refused line (the rest of the file
    is still checked, so the answer counts every problem). The result is a summary, never the cards.
    """
    result = CardImportResult()
    state = _CardImport(organization=organization, result=result)
    try:
        with transaction.atomic():
            rows = _card_rows(csv_file)
            while chunk := list(itertools.islice(rows, CARD_IMPORT_CHUNK)):
                result.lines += len(chunk)
                state.chunk(chunk)
                if result.ok:
                    state.flush()
            if not result.lines:
                result.refuse(CardImportError(0, _("The file contains no cards.")))
            if not result.ok:
                raise _Rollback
    except _Unreadable as exc:
        return CardImportResult(errors=[exc.error], error_count=1)
    except _Rollback:
        result.created = 0
    return result
