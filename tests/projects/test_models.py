import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from projects.models import Organization, Project, validate_project_slug
from tests.factories import make_org, make_project


def test_a_new_organization_has_its_default_project(db):
    org = Organization.objects.create(name="Initech")
    assert re.fullmatch(r"org_[0-9a-f]{16}", org.public_id)
    default = org.default_project
    assert default.is_default
    assert re.fullmatch(r"proj_[0-9a-f]{16}", default.public_id)


def test_the_database_allows_one_default_project_per_organization(db):
    org = make_org()
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(organization=org, name="Second default", is_default=True)


def test_each_organization_has_its_own_default(db):
    make_org("One")
    make_org("Two")
    assert Project.objects.filter(is_default=True).count() == 2


def test_set_default_moves_the_flag(db):
    org = make_org()
    other = make_project(org, "Other")
    other.set_default()
    assert list(org.projects.filter(is_default=True)) == [other]


def test_soft_delete_hides_the_project_keeps_its_slug_and_zeroes_memory_count(db):
    org = make_org()
    project = make_project(org, "Gone", slug="gone")
    Project.objects.filter(pk=project.pk).update(memory_count=3)
    project.refresh_from_db()
    project.soft_delete()
    assert project.deleted_at is not None
    assert project.memory_count == 0
    assert not Project.objects.alive().filter(pk=project.pk).exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(organization=org, name="Again", slug="gone")


def test_the_default_project_cannot_be_deleted(db):
    org = make_org()
    with pytest.raises(ValidationError):
        org.default_project.soft_delete()
    assert org.default_project.deleted_at is None


def test_the_database_refuses_a_deleted_default_project(db):
    org = make_org()
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.filter(pk=org.default_project.pk).update(deleted_at="2026-01-01T00:00:00Z")


@pytest.mark.parametrize("slug", ["ab", "my-app-2", "a" * 48])
def test_valid_slugs(slug):
    validate_project_slug(slug)


@pytest.mark.parametrize("slug", ["a", "-ab", "ab-", "Ab", "a_b", "a" * 49, "new", "has space"])
def test_invalid_slugs(slug):
    with pytest.raises(ValidationError):
        validate_project_slug(slug)


def test_slugs_are_derived_from_names_and_never_collide(db):
    org = make_org("Zeta")
    first = make_project(org, "My App")
    second = make_project(org, "My App")
    assert first.slug == "my-app"
    assert second.slug == "my-app-2"
