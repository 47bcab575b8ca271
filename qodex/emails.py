"""Emails are template triples rendered by one helper: emails/<name>_subject.txt, _body.txt, _body.html."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def send(name: str, to: str, context: dict) -> None:
    context = {"site_name": settings.QODEX_SITE_NAME, **context}
    subject = render_to_string(f"emails/{name}_subject.txt", context).strip().replace("\n", " ")
    text = render_to_string(f"emails/{name}_body.txt", context)
    html = render_to_string(f"emails/{name}_body.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    message.send()
