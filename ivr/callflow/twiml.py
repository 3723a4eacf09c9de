"""TwiML documents for each kind of step, built with twilio's `VoiceResponse`.

Every document is safe by construction: a <Gather> always has an explicit action and a
fall-through after it (a time-out posts the same action without input, which counts as a miss),
every <Dial> and <Record> has an action, so no step can fall back to the greeting.
"""

from __future__ import annotations

import functools
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace

from twilio.twiml.voice_response import Dial, Gather, Record, VoiceResponse

SEN_TIMEOUT = 6
# Seconds of silence that end a spoken SEN. A number, not "auto": "auto" stops at the first pause
# between digit groups, and Twilio does not take it with a speechModel (warning 13335).
SPEECH_TIMEOUT = 3
KEY_TIMEOUT = 5
WHISPER_TIMEOUT = 10
# The silence between a question and what follows it for a caller who waits (the severity levels):
# a caller who knows the answer presses meanwhile and hears no more (Twilio's barge-in).
PAUSE_SECONDS = 2
VOICEMAIL_SECONDS = 120
# Twilio's longest <Dial timeLimit> (4 hours).
MAX_TIME_LIMIT = 14400
# What a customer on hold hears after HOLD, over and over: Twilio's own hold music.
HOLD_MUSIC = "https://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
# Questions kept rendered by `rendered_ask`: a busy line asks the same ones over and over (the
# greeting's SEN question, the severity question of each customer), with the same action URLs.
RENDERED_KEPT = 512
# Stand-ins for a ringing's per-call values (the caller ID, the whisper URL naming the call) in the
# document `rendered_connect` keeps: letters and digits, which XML escaping leaves as they are, and
# random, so no prompt or URL can hold one.
_CALLER_MARK = f"ivrcaller{secrets.token_hex(8)}"
_WHISPER_MARK = f"ivrwhisper{secrets.token_hex(8)}"
_MARKS = re.compile(f"{_CALLER_MARK}|{_WHISPER_MARK}")


@dataclass(frozen=True)
class Voice:
    name: str
    language: str


@dataclass(frozen=True)
class Ringing:
    """One <Dial>: these numbers together, each screened by the whisper URL."""

    numbers: tuple[str, ...]
    timeout: int
    caller_id: str
    action: str
    whisper: str


def _say(parent: VoiceResponse | Gather, text: str, voice: Voice) -> None:
    parent.say(text, voice=voice.name, language=voice.language)


def ask(
    texts: Sequence[str], action: str, voice: Voice, *, after_pause: Sequence[str] = (), speech: bool = False,
    num_digits: int | None = None,
) -> VoiceResponse:
    """Prompts inside a <Gather> (a key interrupts them: the caller may type ahead), then, after a
    pause, `after_pause` for a caller who has not answered yet, then a time-out to the same action."""
    response = VoiceResponse()
    gather = Gather(
        action=action,
        method="POST",
        input="dtmf speech" if speech else "dtmf",
        finish_on_key="#",
        num_digits=num_digits,
        timeout=SEN_TIMEOUT if speech else KEY_TIMEOUT,
        language=voice.language,
        speech_timeout=SPEECH_TIMEOUT if speech else None,
        speech_model="numbers_and_commands" if speech else None,
    )
    for text in texts:
        _say(gather, text, voice)
    if after_pause:
        gather.pause(length=PAUSE_SECONDS)
        for text in after_pause:
            _say(gather, text, voice)
    response.append(gather)
    response.redirect(action, method="POST")
    return response


@functools.lru_cache(maxsize=RENDERED_KEPT)
def rendered_ask(
    texts: tuple[str, ...], action: str, voice: Voice, *, after_pause: tuple[str, ...] = (), speech: bool = False,
    num_digits: int | None = None,
) -> str:
    """`ask`'s document as TwiML text: built by twilio's builders and serialised once for the same
    prompts, action URL (the call's state included) and voice."""
    return str(ask(texts, action, voice, after_pause=after_pause, speech=speech, num_digits=num_digits))


def offer(texts: list[str], action: str, goodbye_texts: list[str], voice: Voice) -> VoiceResponse:
    """A last one-key question (the prompts inside the <Gather>); without a key, goodbye."""
    response = VoiceResponse()
    gather = Gather(action=action, method="POST", input="dtmf", num_digits=1, timeout=KEY_TIMEOUT)
    for text in texts:
        _say(gather, text, voice)
    response.append(gather)
    for text in goodbye_texts:
        _say(response, text, voice)
    response.hangup()
    return response


def goodbye(texts: list[str], voice: Voice) -> VoiceResponse:
    response = VoiceResponse()
    for text in texts:
        _say(response, text, voice)
    response.hangup()
    return response


def connect(texts: list[str], ringing: Ringing, voice: Voice) -> VoiceResponse:
    """Say who we connect to, then ring: the caller hears ringing until an engineer accepts."""
    response = VoiceResponse()
    for text in texts:
        _say(response, text, voice)
    dial = Dial(
        action=ringing.action,
        method="POST",
        answer_on_bridge=True,
        caller_id=ringing.caller_id,
        timeout=ringing.timeout,
    )
    for number in ringing.numbers:
        dial.number(number, url=ringing.whisper, method="POST")
    response.append(dial)
    return response


def rendered_connect(texts: Sequence[str], ringing: Ringing, voice: Voice) -> str:
    """`connect`'s document as TwiML text: built by twilio's builders and serialised once for the
    same prompts, numbers, time-out, action URL and voice; the call's own caller ID and whisper URL
    are put in with the escaping twilio's serialiser (ElementTree) gives an attribute's value."""
    template = _connect_template(tuple(texts), replace(ringing, caller_id=_CALLER_MARK, whisper=_WHISPER_MARK), voice)
    values = {_CALLER_MARK: _attribute(ringing.caller_id), _WHISPER_MARK: _attribute(ringing.whisper)}
    return _MARKS.sub(lambda mark: values[mark[0]], template)


@functools.lru_cache(maxsize=RENDERED_KEPT)
def _connect_template(texts: tuple[str, ...], ringing: Ringing, voice: Voice) -> str:
    return str(connect(list(texts), ringing, voice))


def _attribute(value: str) -> str:
    """`value` as ElementTree writes it between an attribute's quotes."""
    element = ET.tostring(ET.Element("a", v=value), encoding="unicode")  # <a v="..." />
    return element[len('<a v="'):-len('" />')]


def screen(text: str, action: str, voice: Voice) -> VoiceResponse:
    """The engineer's leg: only a key press connects; otherwise hang up, so voicemail cannot take the call."""
    response = VoiceResponse()
    gather = Gather(action=action, method="POST", input="dtmf", num_digits=1, timeout=WHISPER_TIMEOUT)
    _say(gather, text, voice)
    response.append(gather)
    response.hangup()
    return response


def voicemail(text: str, thanks: str, action: str, callback: str, voice: Voice) -> VoiceResponse:
    response = VoiceResponse()
    _say(response, text, voice)
    response.append(
        Record(
            action=action,
            method="POST",
            max_length=VOICEMAIL_SECONDS,
            play_beep=True,
            recording_status_callback=callback,
            recording_status_callback_method="POST",
        )
    )
    # Twilio skips the action when nothing was recorded and goes on here.
    _say(response, thanks, voice)
    response.hangup()
    return response


@dataclass(frozen=True)
class Room:
    """One leg's place in the call's conference room. The customer's leg ends the room when it
    leaves (so the customer hanging up ends the call for everyone); an engineer's does not (so one
    can leave a colleague with the customer). `star`: the engineer may press * to leave the room for
    the handoff menu; `time_limit`: seconds until the leg leaves it for the handoff reminder."""

    name: str
    action: str
    label: str
    customer: bool = False
    star: bool = False
    time_limit: int | None = None


def room(texts: list[str], place: Room, voice: Voice) -> VoiceResponse:
    """Say `texts` to this leg alone, then put it in the room; the room starts when anyone enters."""
    response = VoiceResponse()
    for text in texts:
        _say(response, text, voice)
    dial = Dial(
        action=place.action, method="POST", hangup_on_star=place.star or None, time_limit=place.time_limit,
    )
    dial.conference(
        place.name, start_conference_on_enter=True, end_conference_on_exit=place.customer, beep=False,
        participant_label=place.label,
    )
    response.append(dial)
    return response


def hold(texts: list[str], then: str, voice: Voice) -> VoiceResponse:
    """Out of the room: `texts`, then the music once, then `then` (which holds again, or moves on),
    unless the call is moved first. Never silence, and never for ever."""
    response = VoiceResponse()
    for text in texts:
        _say(response, text, voice)
    response.play(HOLD_MUSIC)
    response.redirect(then, method="POST")
    return response


def announce(text: str, voice: Voice) -> VoiceResponse:
    """On a leg being put through: say this first, then bridge."""
    response = VoiceResponse()
    _say(response, text, voice)
    return response


def bridge() -> VoiceResponse:
    """An empty document: on the engineer's leg, put the call through."""
    return VoiceResponse()


def hangup() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response
