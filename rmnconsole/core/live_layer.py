"""The console's channel layer: channels-redis on the console's own Redis (REDIS_URL, read when the layer is built)."""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer
from django.conf import settings

# redis-py 8 reads with a 5 s socket timeout by default, and channels-redis waits on BZPOPMIN for 5 s (brpop_timeout):
# the two race, and an idle consumer died with "Timeout reading from …" (1011 to the browser; measured: 2-5 of 20
# sockets within a few seconds). Reads are allowed well past the blocking wait.
SOCKET_TIMEOUT = 3 * RedisChannelLayer.brpop_timeout


class ConsoleRedisChannelLayer(RedisChannelLayer):
    """Like RedisChannelLayer, with `hosts` defaulting to REDIS_URL: one Redis setting for queues and live updates,
    and a test run that moves REDIS_URL to its own database (per xdist worker) moves the layer too."""

    def __init__(self, hosts=None, prefix: str = "rmn-live", **kwargs):
        hosts = hosts or [{"address": settings.REDIS_URL, "socket_timeout": SOCKET_TIMEOUT}]
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
