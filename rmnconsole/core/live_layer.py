"""The console's channel layer: channels-redis on the console's own Redis (REDIS_URL, read when the layer is built)."""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer
from django.conf import settings


class ConsoleRedisChannelLayer(RedisChannelLayer):
    """Like RedisChannelLayer, with `hosts` defaulting to REDIS_URL: one Redis setting for queues and live updates,
    and a test run that moves REDIS_URL to its own database (per xdist worker) moves the layer too."""

    def __init__(self, hosts=None, prefix: str = "rmn-live", **kwargs):
        super().__init__(hosts=hosts or [settings.REDIS_URL], prefix=prefix, **kwargs)
