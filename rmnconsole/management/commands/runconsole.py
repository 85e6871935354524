"""Run the whole console on one machine: migrations, demo data, Redis, workers, job recovery, monitor and web server."""

from __future__ import annotations

import os
import secrets
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.loops import stop_on_signals
from rmnconsole.services_runner import EmbeddedRedis, Supervisor, redis_answers


class Command(BaseCommand):
    help = "Apply migrations, seed demo data, start Redis (embedded if none answers), workers, job recovery, monitor and the web server."

    def add_arguments(self, parser):
        parser.add_argument(
            "--addr", default="127.0.0.1:8000", help="Address for the web server (default 127.0.0.1:8000)."
        )
        parser.add_argument("--no-seed", action="store_true", help="Skip tiny models and demo data.")
        parser.add_argument(
            "--federation-demo",
            type=int,
            default=0,
            metavar="N",
            help="Also start a loopback Flower SuperLink and N demo SuperNodes (1-3), one per demo retailer, "
            "each with its data in its own folder under var/federation-demo/ (outside the data root).",
        )

    def handle(self, *args, addr: str, no_seed: bool, federation_demo: int = 0, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database ready")
        if not no_seed:
            self._seed()
        demo_args = self._federation_demo(federation_demo) if federation_demo else None

        embedded = None
        env = dict(os.environ)
        if redis_answers(settings.REDIS_URL):
            self.stdout.write(f"using Redis at {settings.REDIS_URL}")
        else:
            embedded = EmbeddedRedis(settings.RMN_DATA_ROOT / "redis")
            env["REDIS_URL"] = embedded.url
            self.stdout.write(f"no Redis at {settings.REDIS_URL}: started an embedded one at {embedded.url}")

        supervisor = Supervisor(env=env)
        with stop_on_signals() as stop:
            try:
                supervisor.start("training-worker", ["training_worker", "--name", f"training-{os.getpid()}"])
                supervisor.start(
                    "inference-worker",
                    [
                        "rqworker",
                        "inference",
                        "--worker-class",
                        "rmnconsole.workers.RecoveringSimpleWorker",
                        "--name",
                        f"inference-{os.getpid()}",
                    ],
                )
                # Answers /v1 (deployments): batches concurrent requests per deployment target.
                supervisor.start("serving-worker", ["serve_models", "--name", f"serve-{os.getpid()}"])
                if demo_args:
                    # Loopback SuperLink + demo SuperNodes (training's `federation_demo` command); workers get its address.
                    supervisor.start("federation-demo", demo_args)
                supervisor.start("recovery", ["recover_jobs"])
                if "monitor_host" in get_commands():
                    supervisor.start("monitor", ["monitor_host"])
                # daphne's runserver (daphne is the first installed app): the ASGI app, pages plus live-update sockets
                supervisor.start("web", ["runserver", addr, "--noreload", "--skip-checks"])
                self.stdout.write(
                    self.style.SUCCESS(f"RMN LoRA Admin Console: http://{addr}/  (Ctrl-C to stop)")
                )
                while not stop.is_set():
                    dead = supervisor.dead()
                    if dead:
                        name, code = dead[0]
                        raise CommandError(f"{name} exited with status {code}; stopping the console")
                    time.sleep(0.5)
            finally:
                self.stdout.write("stopping workers and web server …")
                supervisor.stop_all()
                if embedded is not None:
                    embedded.stop()
                self.stdout.write("stopped")

    def _federation_demo(self, count: int) -> list[str]:
        import socket

        if not 1 <= count <= 3:
            raise CommandError("--federation-demo takes 1 to 3 (one SuperNode per demo retailer)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        root = settings.BASE_DIR / "var" / "federation-demo"
        os.environ["RMN_FLOWER_SUPERLINK"] = f"127.0.0.1:{port}"
        os.environ["RMN_FLOWER_ROOT_CERTIFICATES"] = str(root / "superlink" / "tls" / "ca.pem")
        os.environ["RMN_FLOWER_INSECURE"] = "0"
        self.stdout.write(
            f"Flower demo: SuperLink on 127.0.0.1:{port} with {count} SuperNodes (TLS, node auth)"
        )
        return ["federation_demo", "--silos", str(count), "--port", str(port), "--root", str(root)]

    def _seed(self) -> None:
        call_command("build_tiny_models", stdout=self.stdout)
        call_command("import_base_model", "--first-run", stdout=self.stdout)
        if "seed_demo" in get_commands():
            call_command("seed_demo", stdout=self.stdout)
        user_model = get_user_model()
        if not user_model.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", "admin@localhost", password)
            self.stdout.write(
                self.style.WARNING(f"created user 'admin' with password {password} — shown once, change it")
            )
