"""memory_count stays exact under parallel writers (SPEC §2): real threads, real connections, PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from projects.models import Organization, Project
from qa.models import Memory

pytestmark = [pytest.mark.postgres]

WRITERS = 8
PER_WRITER = 25


def run_in_threads(target, n: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def wrapper(i: int) -> None:
        try:
            start.wait()
            target(i)
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_parallel_adds_and_deletes_keep_the_count_equal_to_the_rows(transactional_db):
    org = Organization.objects.create(name="Race")
    project = Project.objects.create(organization=org, name="Target")

    def write(i: int) -> None:
        mine = Project.objects.get(pk=project.pk)
        for n in range(PER_WRITER):
            memory = Memory.objects.add(project=mine, content=f"writer {i} note {n}")
            if n % 3 == 0:
                memory.delete()

    assert run_in_threads(write, WRITERS) == []
    project.refresh_from_db()
    rows = Memory.objects.filter(project=project).count()
    assert rows == WRITERS * (PER_WRITER - len(range(0, PER_WRITER, 3)))
    assert project.memory_count == rows


def test_a_soft_delete_racing_writers_leaves_no_memory_behind_and_a_zero_count(transactional_db):
    org = Organization.objects.create(name="Race")
    project = Project.objects.create(organization=org, name="Target")

    def write(i: int) -> None:
        mine = Project.objects.get(pk=project.pk)
        if i == 0:
            mine.soft_delete()
            return
        for n in range(PER_WRITER):
            try:
                memory = Memory.objects.add(project=mine, content=f"writer {i} note {n}")
            except ValidationError:
                return  # the project is gone: refused, nothing written
            if n % 4 == 0:
                memory.delete()

    assert run_in_threads(write, WRITERS) == []
    project.refresh_from_db()
    assert project.deleted_at is not None
    assert project.memory_count == 0
    assert not Memory.objects.filter(project=project).exists()
