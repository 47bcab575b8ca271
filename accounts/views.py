"""Sign-up, email verification, login/logout, sudo confirmation and the rate-limited password reset."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import ratelimit, registration, sudo, throttles
from accounts.forms import ConfirmPasswordForm, EmailAuthenticationForm, PasswordResetForm, SignupForm
from accounts.models import EmailVerification, hash_token, normalize_email
from projects import invitations, onboarding

BACKEND = "accounts.backends.EmailBackend"


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    invitation = invitations.from_session(request)
    form = SignupForm(request.POST or None, initial={"email": invitation.email if invitation else ""})
    if request.method == "POST":
        wait = ratelimit.attempt((throttles.SIGNUP_PER_IP, throttles.client_ip(request)))
        if wait:
            wait_text = ratelimit.wait_text(wait)
            form.add_error(None, f"Too many sign-ups from your network. Try again in {wait_text}.")
            context = {"form": form, "invitation": invitation}
            return render(request, "accounts/signup.html", context, status=429)
        if form.is_valid():
            email, password = form.cleaned_data["email"], form.cleaned_data["password"]
            # The invitation link reached this inbox: that proves the address as our own email would.
            invited = invitation is not None and normalize_email(invitation.email) == normalize_email(email)
            user = registration.create_account(email, password, verified=invited)
            if user is not None and invited:
                auth_login(request, user, backend=BACKEND)
                project = invitations.accept(request, invitation, user)
                return redirect("projects:overview", slug=project.slug)
            # New or taken, the visitor sees the same thing: no login, the same session key, the same page.
            registration.remember(request, email, user)
            registration.email_address(request, email, user)
            return redirect("accounts:check_email")
    return render(request, "accounts/signup.html", {"form": form, "invitation": invitation})


def check_email(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        if request.user.is_verified:
            return redirect("home")
        email = request.user.email
    else:
        pending = registration.pending(request)
        if pending is None:
            return redirect("accounts:login")
        email = pending.email
    return render(request, "accounts/check_email.html", {"email": email})


@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_authenticated:
        if user.is_verified:
            return redirect("home")
        email, created = user.email, user
    else:
        pending = registration.pending(request)
        if pending is None:
            return redirect("accounts:login")
        email, created = pending.email, pending.created
    refusal = registration.email_address(request, email, created)
    if refusal:
        messages.error(request, refusal)
    else:
        messages.success(request, f"A new email is on its way to {email}.")
    return redirect("accounts:check_email")


def verify(request: HttpRequest, token: str) -> HttpResponse:
    verification = (
        EmailVerification.objects.select_related("user").filter(token_hash=hash_token(token)).first()
    )
    problem = None
    if verification is None:
        problem = "This verification link is not valid. Check that you copied all of it."
    elif verification.used_at is not None:
        problem = "This verification link has already been used."
    elif verification.is_expired:
        problem = "This verification link has expired (links last 48 hours). Send yourself a new one."
    if problem:
        user = request.user
        waiting = not user.is_verified if user.is_authenticated else registration.pending(request) is not None
        context = {"problem": problem, "can_resend": waiting}
        return render(request, "accounts/verify_failed.html", context, status=400)

    user = verification.user
    with transaction.atomic():
        verification.used_at = timezone.now()
        verification.save(update_fields=["used_at"])
        first_time = not user.is_verified
        user.email_verified_at = user.email_verified_at or timezone.now()
        user.save(update_fields=["email_verified_at"])

    pending = registration.pending(request)
    if (
        not request.user.is_authenticated
        and pending is not None
        and pending.user_id == user.pk
        and user.is_active
    ):
        # This browser chose the password at sign-up and the link proves the inbox: that is a login.
        auth_login(request, user, backend=BACKEND)
        sudo.revoke(request)  # nobody typed the password just now
    if request.user.is_authenticated and request.user.pk != user.pk:
        messages.info(request, "That email is verified. You are still signed in as another account.")
        return redirect("home")
    if not request.user.is_authenticated:
        messages.success(request, "Your email is verified. Log in to continue.")
        return redirect("accounts:login")
    request.user = user
    invitation = invitations.from_session(request)
    if invitation is not None:
        project = invitations.accept(request, invitation, user)
    elif first_time and not user.project_memberships.exists() and not user.org_memberships.exists():
        project = onboarding.create_workspace(user, request)
    else:
        return redirect("home")
    return redirect("projects:overview", slug=project.slug)


class LoginView(auth_views.LoginView):
    """Failed logins are limited per normalized address and per IP (SPEC §11); successes don't count."""

    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        self.email, self.ip = normalize_email(request.POST.get("username", "")), throttles.client_ip(request)
        wait = ratelimit.attempt((throttles.LOGIN_PER_EMAIL, self.email), (throttles.LOGIN_PER_IP, self.ip))
        if wait:
            # An unbound form: a bound AuthenticationForm would check the password as it renders its errors.
            form = self.form_class(request, initial={"username": request.POST.get("username", "")})
            throttled = (
                f"Too many attempts. Try again in {ratelimit.wait_text(wait)}, or reset your password."
            )
            return self.render_to_response(self.get_context_data(form=form, throttled=throttled), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        # Only failed attempts count: take this one back and clear the address's failures.
        throttles.LOGIN_PER_EMAIL.reset(self.email)
        throttles.LOGIN_PER_IP.undo(self.ip)
        return super().form_valid(form)


class PasswordResetView(auth_views.PasswordResetView):
    """Every request counts, per normalized address and per IP, whether or not the address has an account."""

    template_name = "accounts/password_reset.html"
    form_class = PasswordResetForm
    email_template_name = "emails/password_reset_body.txt"
    html_email_template_name = "emails/password_reset_body.html"
    subject_template_name = "emails/password_reset_subject.txt"

    def post(self, request, *args, **kwargs):
        email, ip = normalize_email(request.POST.get("email", "")), throttles.client_ip(request)
        wait = ratelimit.attempt((throttles.RESET_PER_EMAIL, email), (throttles.RESET_PER_IP, ip))
        if wait:
            form = self.form_class(initial={"email": request.POST.get("email", "")})
            throttled = f"Too many reset requests. Try again in {ratelimit.wait_text(wait)}."
            return self.render_to_response(self.get_context_data(form=form, throttled=throttled), status=429)
        return super().post(request, *args, **kwargs)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"

    def form_valid(self, form):
        # The inbox owner chose a new password: the failures that locked the address no longer matter.
        throttles.LOGIN_PER_EMAIL.reset(normalize_email(self.user.email))
        return super().form_valid(form)


@login_required
def confirm_password(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("home")
    form = ConfirmPasswordForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        sudo.confirm(request)
        return redirect(next_url)
    status = 429 if form.is_bound and form.throttled else 200
    return render(request, "accounts/confirm_password.html", {"form": form, "next": next_url}, status=status)
