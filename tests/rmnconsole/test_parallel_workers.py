"""What each pytest-xdist worker gets of its own: a Redis database, a PostgreSQL test database, a data root."""

import pytest

from tests.conftest import redis_url_for_worker, worker_env, xdist_worker_index


@pytest.mark.parametrize(
    ("url", "index", "expected"),
    [
        ("redis://127.0.0.1:6379/8", 0, "redis://127.0.0.1:6379/8"),
        ("redis://127.0.0.1:6379/8", 3, "redis://127.0.0.1:6379/11"),
        ("redis://:pw@cache:6380/2", 5, "redis://:pw@cache:6380/7"),
        ("unix:///run/redis.sock?db=4", 2, "unix:///run/redis.sock?db=6"),
    ],
)
def test_each_worker_gets_the_next_redis_database(url, index, expected):
    assert redis_url_for_worker(url, index) == expected


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379", "unix:///r.sock"])
def test_database_zero_is_never_used_in_parallel(url):
    with pytest.raises(pytest.UsageError, match="database 0"):
        redis_url_for_worker(url, 1)


def test_a_worker_beyond_the_last_redis_database_is_refused():
    with pytest.raises(pytest.UsageError, match="gw4 needs Redis database 16"):
        redis_url_for_worker("redis://127.0.0.1:6379/12", 4, databases=16)


@pytest.mark.django_db(transaction=True)
def test_this_worker_uses_its_own_databases(settings, data_root):
    import os

    from rmnconsole.core.queues import TRAINING, get_queue

    index = xdist_worker_index()
    db = get_queue(TRAINING).connection.connection_pool.connection_kwargs["db"]
    env = worker_env(settings)
    # Worker subprocesses (rq_worker) must land on exactly what this test process uses.
    assert env["REDIS_URL"] == settings.REDIS_URL and env["RMN_DATA_ROOT"] == str(data_root)
    assert env["DATABASE_URL"].endswith("/" + settings.DATABASES["default"]["NAME"])
    if index is None:
        assert os.environ["REDIS_URL"] == settings.REDIS_URL
        return
    assert db != 0 and settings.REDIS_URL.endswith(f"/{db}") and os.environ["REDIS_URL"] == settings.REDIS_URL
    assert settings.DATABASES["default"]["NAME"].endswith(f"_gw{index}")
    assert f"popen-gw{index}" in str(data_root)
