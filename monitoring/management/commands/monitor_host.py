"""`manage.py monitor_host`: sample this host's GPUs (NVML) and CPU/RAM on a clock, evaluate alerts, roll up old
samples and announce the host's capabilities. Runs until SIGTERM/SIGINT, then stops cleanly."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring import alerts, services
from monitoring.engine.capabilities import detect_capabilities
from monitoring.engine.sampler import GpuSampler
from rmnconsole.core.loops import refresh_db_connection, stop_on_signals

log = logging.getLogger("monitoring.monitor_host")

ROLLUP_EVERY_SECONDS = 60.0


class Command(BaseCommand):
    help = "Sample GPUs (NVML) and CPU/RAM every RMN_SAMPLE_INTERVAL_SECONDS, evaluate alerts, downsample old samples."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="", help="Name to report (default: this machine's hostname).")
        parser.add_argument(
            "--interval", type=float, default=None, help="Seconds between samples (default: setting)."
        )
        parser.add_argument("--once", action="store_true", help="Take one sample, evaluate alerts, and exit.")
        parser.add_argument(
            "--iterations", type=int, default=0, help="Stop after this many samples (0 = run until stopped)."
        )
        parser.add_argument(
            "--no-alerts", action="store_true", help="Only sample; another monitor evaluates alerts."
        )

    def handle(self, *args, **options):
        interval = (
            options["interval"]
            if options["interval"] is not None
            else float(settings.RMN_SAMPLE_INTERVAL_SECONDS)
        )
        if interval < 0.1:
            raise CommandError(f"--interval must be at least 0.1 seconds (got {interval})")
        host = (options["host"] or os.environ.get("RMN_WORKER_HOST") or socket.gethostname()).strip()[:200]
        if not host:
            raise CommandError("cannot tell this host's name: pass --host NAME")
        limit = 1 if options["once"] else max(0, options["iterations"])
        with stop_on_signals() as stop:
            sampler = GpuSampler()
            try:
                reason = sampler.open()
                caps = detect_capabilities(host, sampler)
                services.announce_host(caps, pid=os.getpid())
                gpus = (
                    ", ".join(f"{g['index']}: {g['name']}" for g in caps.gpus)
                    or f"no GPU ({reason or caps.no_gpu_reason})"
                )
                self.stdout.write(
                    f"monitor_host {host}: every {interval:g}s; GPUs {gpus}; CUDA {'yes' if caps.cuda else 'no'}; "
                    f"bitsandbytes {'yes' if caps.bitsandbytes else 'no'}"
                )
                self._loop(host, sampler, interval, limit, stop, evaluate=not options["no_alerts"])
            finally:
                sampler.close()
                refresh_db_connection()
                services.mark_host_stopped(host)
                self.stdout.write(f"monitor_host {host}: stopped")

    def _loop(
        self,
        host: str,
        sampler: GpuSampler,
        interval: float,
        limit: int,
        stop: threading.Event,
        *,
        evaluate: bool,
    ):
        taken = 0
        last_rollup = 0.0
        next_tick = time.monotonic()
        while not stop.is_set():
            try:
                refresh_db_connection()
                services.record_snapshot(host, sampler.sample())
                if evaluate:
                    alerts.evaluate_alerts()
                if time.monotonic() - last_rollup >= ROLLUP_EVERY_SECONDS:
                    # Every host's rows, not just ours: a stopped host's last minutes still get rolled up.
                    services.rollup_and_prune()
                    last_rollup = time.monotonic()
            except Exception:
                log.exception("monitor_host %s: tick failed; retrying next interval", host)
            taken += 1
            if limit and taken >= limit:
                break
            next_tick += interval
            # Event.wait returns at once on SIGTERM, so stopping never waits a whole interval.
            stop.wait(max(0.0, next_tick - time.monotonic()))
