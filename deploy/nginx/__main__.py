"""Print deploy/nginx/firmware.conf filled in for production:

    python -m deploy.nginx --server-name updates.example.com > /etc/nginx/conf.d/firmware.conf
"""

import argparse

from . import DEFAULTS, render


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.nginx", description=__doc__.splitlines()[0])
    helps = {
        "listen": "nginx `listen` arguments (add TLS yourself: `443 ssl` and its certificate lines)",
        "server_name": "nginx `server_name`",
        "django": "gunicorn's address: host:port or unix:/path",
        "media_root": "MEDIA_ROOT (release archives)",
        "static_root": "STATIC_ROOT (collectstatic)",
        "cache_dir": "the go-ahead cache's folder (tmpfs: its keys hold device tokens)",
        "access_log": "`access_log` arguments (format firmware_ddi logs the go-ahead cache's HIT/MISS)",
        "max_body_size": "largest request body, bytes: a release upload (FIRMWARE_MAX_ARCHIVE_SIZE + 1 MiB)",
    }
    for name, default in DEFAULTS.items():
        parser.add_argument("--" + name.replace("_", "-"), default=default, help=f"{helps[name]} [{default}]")
    args = parser.parse_args(argv)
    print(render(**vars(args)), end="")


if __name__ == "__main__":
    main()
