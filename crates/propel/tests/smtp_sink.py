"""A local SMTP server for propel's email tests (needs aiosmtpd: pip install aiosmtpd).

usage: python3 smtp_sink.py DIR [FAIL_FIRST]

Every accepted message is written to DIR as NNNNN.json: envelope, headers, the decoded
HTML part, the time it arrived. The first FAIL_FIRST messages are refused with a
temporary error (451), to exercise retries. Picks a free port and prints "ready PORT"
once listening.
"""

import email
import json
import os
import socket
import sys
import time
from email import policy

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out, fail_first):
        self.out = out
        self.fail_first = fail_first
        self.count = 0
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refused < self.fail_first:
            self.refused += 1
            return "451 4.3.0 try again later"
        self.count += 1
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        body = msg.get_body(preferencelist=("html", "plain"))
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "headers": {k: str(v) for k, v in msg.items()},
            "html": body.get_content() if body is not None else "",
            "received": time.time(),
            "refusedBefore": self.refused,
        }
        tmp = os.path.join(self.out, ".%05d.tmp" % self.count)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, "%05d.json" % self.count))
        return "250 2.0.0 OK"


def main():
    out = sys.argv[1]
    fail_first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    handler = Handler(out, fail_first)
    for _ in range(20):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        try:
            controller.start()
            break
        except Exception as e:  # the port was taken meanwhile: another one
            print("sink: port %d: %s" % (port, e), file=sys.stderr)
    else:
        sys.exit("sink: no free port")
    print("ready %d" % port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
