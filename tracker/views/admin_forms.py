"""The administration's forms: Flask-WTF with German messages, validated on the server."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
    URLField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from tracker.services.accounts import name_is_clean


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class GermanTimeField(TimeField):
    """TimeField whose parse error is German (WTForms ships no translation for it)."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("Keine gültige Uhrzeit.")) from exc


class GermanDateTimeLocalField(DateTimeLocalField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("Kein gültiger Zeitpunkt (Datum und Uhrzeit).")) from exc


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes (rendered by the `checkboxes` macro)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        # A forged value (an organisation that is not offered) is refused in German. Fields
        # whose choices are only known after validation check their values themselves.
        if self.data and self.validate_choice:
            allowed = {str(value) for value, _label in self.choices}
            for value in self.data:
                if str(value) not in allowed:
                    raise ValidationError(_l("Ungültige Auswahl."))


class GermanSelectField(SelectField):
    def pre_validate(self, form):
        allowed = {str(value) for value, _label in self.choices}
        if str(self.data) not in allowed:
            raise ValidationError(_l("Bitte wählen Sie einen Eintrag aus der Liste."))


class OrganisationForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Bitte geben Sie den Namen ein.")),
                    Length(max=200, message=_l("Höchstens 200 Zeichen."))],
    )
    short_name = StringField(
        _l("Kurzname"), validators=[Optional(), Length(max=40, message=_l("Höchstens 40 Zeichen."))]
    )


class SeriesForm(FlaskForm):
    title = StringField(
        _l("Titel"),
        validators=[DataRequired(_l("Bitte geben Sie einen Titel ein.")),
                    Length(max=200, message=_l("Höchstens 200 Zeichen."))],
    )
    description = TextAreaField(
        _l("Beschreibung"), validators=[Optional(), Length(max=5000, message=_l("Höchstens 5000 Zeichen."))]
    )
    owner_organisation_id = GermanSelectField(
        _l("Verantwortliche Organisation"), coerce=int,
        validators=[InputRequired(_l("Bitte wählen Sie eine Organisation."))],
    )
    open_to = MultiCheckboxField(_l("Offen für"), coerce=int)
    coordinators = TextAreaField(
        _l("Koordination (E-Mail-Adressen, eine pro Zeile)"),
        validators=[Optional(), Length(max=5000, message=_l("Höchstens 5000 Zeichen."))],
    )
    reminder_days = IntegerField(
        _l("Erinnerung per E-Mail (Tage vor dem Termin)"), default=2,
        validators=[Optional(),
                    NumberRange(min=0, max=30, message=_l("Bitte geben Sie eine Zahl von 0 bis 30 ein."))],
    )
    archived = BooleanField(_l("Archiviert (nicht mehr angeboten)"))

    def validate_open_to(self, field):
        if not field.data:
            raise ValidationError(_l("Bitte wählen Sie mindestens eine Organisation."))


class SessionForm(FlaskForm):
    title = StringField(
        _l("Titel"),
        validators=[DataRequired(_l("Bitte geben Sie einen Titel ein.")),
                    Length(max=200, message=_l("Höchstens 200 Zeichen."))],
    )
    description = TextAreaField(
        _l("Beschreibung"), validators=[Optional(), Length(max=5000, message=_l("Höchstens 5000 Zeichen."))]
    )
    day = DateField(_l("Datum"), validators=[InputRequired(_l("Bitte geben Sie das Datum ein."))])
    start_time = GermanTimeField(
        _l("Beginn"), validators=[InputRequired(_l("Bitte geben Sie die Uhrzeit des Beginns ein."))]
    )
    end_time = GermanTimeField(
        _l("Ende"), validators=[InputRequired(_l("Bitte geben Sie die Uhrzeit des Endes ein."))]
    )
    # Left empty, the deadline is DEFAULT_DEADLINE_DAYS before the start (see _session_data).
    enrolment_deadline = GermanDateTimeLocalField(
        _l("Anmeldeschluss"), format="%Y-%m-%dT%H:%M", validators=[Optional()],
    )
    location = StringField(
        _l("Ort"), validators=[Optional(), Length(max=200, message=_l("Höchstens 200 Zeichen."))]
    )
    online_url = URLField(
        _l("Online-Link"),
        validators=[Optional(), Length(max=500, message=_l("Höchstens 500 Zeichen.")),
                    URL(require_tld=False, message=_l("Bitte geben Sie eine vollständige Adresse mit https:// ein."))],
    )
    trainer = StringField(
        _l("Referentin oder Referent"),
        validators=[Optional(), Length(max=200, message=_l("Höchstens 200 Zeichen."))],
    )
    capacity = IntegerField(
        _l("Plätze"),
        validators=[InputRequired(_l("Bitte geben Sie die Zahl der Plätze ein.")),
                    NumberRange(min=1, max=10000, message=_l("Die Zahl der Plätze muss zwischen 1 und 10000 liegen."))],
    )

    def validate_end_time(self, field):
        if self.start_time.data and field.data and field.data <= self.start_time.data:
            raise ValidationError(_l("Das Ende muss nach dem Beginn liegen."))

    def validate_enrolment_deadline(self, field):
        if self.day.data and self.start_time.data and field.data:
            from datetime import datetime

            if field.data > datetime.combine(self.day.data, self.start_time.data):
                raise ValidationError(_l("Der Anmeldeschluss darf nicht nach dem Beginn liegen."))

    def validate_location(self, field):
        if not (field.data or "").strip() and not (self.online_url.data or "").strip():
            raise ValidationError(_l("Bitte geben Sie einen Ort oder einen Online-Link an."))


WEEKDAYS = [(0, _l("Montag")), (1, _l("Dienstag")), (2, _l("Mittwoch")), (3, _l("Donnerstag")),
            (4, _l("Freitag")), (5, _l("Samstag")), (6, _l("Sonntag"))]
RHYTHMS = [("1", _l("jeden ersten im Monat")), ("2", _l("jeden zweiten im Monat")),
           ("3", _l("jeden dritten im Monat")), ("4", _l("jeden vierten im Monat")),
           ("last", _l("jeden letzten im Monat")), ("weekly", _l("jede Woche"))]


class RegularSessionsForm(FlaskForm):
    """Regular sessions of a series in one form; the generated dates are shown to be checked
    (and single ones unticked) before they are saved."""

    title = StringField(
        _l("Titel der Termine"), filters=[_strip],
        validators=[DataRequired(_l("Bitte geben Sie einen Titel ein.")),
                    Length(max=200, message=_l("Höchstens 200 Zeichen."))],
    )
    # Choices are set in __init__: WTForms deprecates tuples passed to the field's constructor.
    day_of_week = GermanSelectField(_l("Wochentag"), coerce=int,
                                    validators=[InputRequired(_l("Bitte wählen Sie einen Wochentag."))])
    rhythm = GermanSelectField(_l("Rhythmus"),
                               validators=[InputRequired(_l("Bitte wählen Sie einen Rhythmus."))])
    first_day = DateField(_l("Erster möglicher Tag"),
                          validators=[InputRequired(_l("Bitte geben Sie den Anfang des Zeitraums ein."))])
    last_day = DateField(_l("Letzter möglicher Tag"),
                         validators=[InputRequired(_l("Bitte geben Sie das Ende des Zeitraums ein."))])
    start_time = GermanTimeField(
        _l("Beginn"), validators=[InputRequired(_l("Bitte geben Sie die Uhrzeit des Beginns ein."))]
    )
    end_time = GermanTimeField(
        _l("Ende"), validators=[InputRequired(_l("Bitte geben Sie die Uhrzeit des Endes ein."))]
    )
    deadline_days = IntegerField(
        _l("Anmeldeschluss (Tage vor dem Termin)"), default=2,
        validators=[InputRequired(_l("Bitte geben Sie an, wie viele Tage vorher die Anmeldung schließt.")),
                    NumberRange(min=0, max=60, message=_l("Zwischen 0 und 60 Tagen."))],
    )
    location = StringField(
        _l("Ort"), filters=[_strip],
        validators=[Optional(), Length(max=200, message=_l("Höchstens 200 Zeichen."))]
    )
    online_url = URLField(
        _l("Online-Link"), filters=[_strip],
        validators=[Optional(), Length(max=500, message=_l("Höchstens 500 Zeichen.")),
                    URL(require_tld=False, message=_l("Bitte geben Sie eine vollständige Adresse mit https:// ein."))],
    )
    trainer = StringField(
        _l("Referentin oder Referent"), filters=[_strip],
        validators=[Optional(), Length(max=200, message=_l("Höchstens 200 Zeichen."))],
    )
    capacity = IntegerField(
        _l("Plätze je Termin"),
        validators=[InputRequired(_l("Bitte geben Sie die Zahl der Plätze ein.")),
                    NumberRange(min=1, max=10000, message=_l("Die Zahl der Plätze muss zwischen 1 und 10000 liegen."))],
    )
    dates = MultiCheckboxField(_l("Diese Termine anlegen"), choices=[], validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.day_of_week.choices = WEEKDAYS
        self.rhythm.choices = RHYTHMS

    def validate_end_time(self, field):
        if self.start_time.data and field.data and field.data <= self.start_time.data:
            raise ValidationError(_l("Das Ende muss nach dem Beginn liegen."))

    def validate_location(self, field):
        if not (field.data or "").strip() and not (self.online_url.data or "").strip():
            raise ValidationError(_l("Bitte geben Sie einen Ort oder einen Online-Link an."))


class CopySeriesForm(FlaskForm):
    title = StringField(
        _l("Titel der neuen Reihe"),
        validators=[DataRequired(_l("Bitte geben Sie einen Titel ein.")),
                    Length(max=200, message=_l("Höchstens 200 Zeichen."))],
    )
    first_day = DateField(_l("Neues Datum des ersten Termins"), validators=[Optional()])
    offset_days = IntegerField(
        _l("oder: Verschiebung in Tagen"),
        validators=[Optional(), NumberRange(min=-3650, max=3650, message=_l("Höchstens 3650 Tage."))],
    )
    # Shown with the new dates once the admin asked for the preview; unticked ones stay behind.
    sessions = MultiCheckboxField(_l("Diese Termine übernehmen"), coerce=int, choices=[])

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        field = self.offset_days
        if field.errors or self.first_day.errors:
            return False
        message = None
        if field.data is None and self.first_day.data is None:
            message = _l("Bitte geben Sie ein neues Datum des ersten Termins oder eine "
                         "Verschiebung in Tagen an.")
        elif field.data is not None and self.first_day.data is not None:
            message = _l("Bitte geben Sie nur eines an: neues Datum oder Verschiebung.")
        elif field.data == 0:
            message = _l("Die Verschiebung darf nicht 0 Tage sein.")
        if message:
            field.errors = [*field.errors, message]
            return False
        return ok


def _clean_name(_form, field):
    if field.data and not name_is_clean(field.data):
        raise ValidationError(_l("Der Name enthält ein unzulässiges Steuer- oder Sonderzeichen. "
                                 "Bitte geben Sie ihn erneut ein."))


class PersonForm(FlaskForm):
    first_name = StringField(
        _l("Vorname"), filters=[_strip],
        validators=[DataRequired(_l("Bitte geben Sie den Vornamen ein.")),
                    Length(max=100, message=_l("Höchstens 100 Zeichen.")), _clean_name],
    )
    last_name = StringField(
        _l("Nachname"), filters=[_strip],
        validators=[DataRequired(_l("Bitte geben Sie den Nachnamen ein.")),
                    Length(max=100, message=_l("Höchstens 100 Zeichen.")), _clean_name],
    )
    email = EmailField(
        _l("E-Mail-Adresse"), filters=[_strip],
        validators=[DataRequired(_l("Bitte geben Sie die E-Mail-Adresse ein.")),
                    Length(max=254, message=_l("Höchstens 254 Zeichen.")),
                    Email(_l("Bitte geben Sie eine gültige E-Mail-Adresse ein."))],
    )
    organisation_id = GermanSelectField(
        _l("Organisation"), coerce=int,
        validators=[InputRequired(_l("Bitte wählen Sie eine Organisation."))],
    )
    role = GermanSelectField(
        _l("Rolle"), validators=[InputRequired(_l("Bitte wählen Sie eine Rolle."))]
    )


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("Neues Passwort"),
        validators=[DataRequired(_l("Bitte geben Sie ein neues Passwort ein.")),
                    Length(min=10, max=500, message=_l("Das Passwort muss mindestens 10 Zeichen lang sein."))],
    )
    confirm = PasswordField(
        _l("Passwort wiederholen"),
        validators=[DataRequired(_l("Bitte wiederholen Sie das Passwort.")),
                    EqualTo("password", message=_l("Die beiden Passwörter stimmen nicht überein."))],
    )


class ImportForm(FlaskForm):
    file = FileField(
        _l("Personalliste (.xlsx oder .csv)"),
        validators=[FileRequired(_l("Bitte wählen Sie eine Datei aus."))],
    )


class _QuotaForm(FlaskForm):
    """Seats per partner organisation; the fields `org_<id>` are added per series."""

    def organisation_fields(self):
        return [f for f in self if f.name.startswith("org_")]

    def seats(self) -> dict[int, int]:
        return {int(f.name.removeprefix("org_")): f.data or 0 for f in self.organisation_fields()}


def _organisation_field(name: str):
    return IntegerField(name, validators=[
        Optional(), NumberRange(min=0, max=10000, message=_l("Bitte eine Zahl von 0 bis 10000."))])


def quota_form(organisations, *, session: bool) -> _QuotaForm:
    """The quota form for these organisations: for a session with its release time, for a
    series with the days before each session."""
    fields = {f"org_{org.id}": _organisation_field(org.name) for org in organisations}
    if session:
        fields["release_at"] = GermanDateTimeLocalField(
            _l("Freigabe der Kontingente"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    else:
        fields["release_days"] = IntegerField(_l("Freigabe (Tage vor dem Termin)"), validators=[
            InputRequired(_l("Bitte geben Sie die Zahl der Tage an.")),
            NumberRange(min=1, max=365, message=_l("Bitte eine Zahl von 1 bis 365."))])
    return type("QuotaForm", (_QuotaForm,), fields)()
