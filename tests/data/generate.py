#!/usr/bin/env python3
"""Write Bulwark's own test corpus (the *.eml files beside this script).

The files are committed; this script documents how they were made and
rewrites them byte for byte (every "random" byte comes from SHA-256 of a
counter, so the output never changes).  Run it from anywhere:

    python3 tests/data/generate.py

EXPECT.tsv lists the outcome of every file when it is sent with smtplib to
someone@example.test on the default settings.
"""

import base64
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def prng(seed, n):
    """n deterministic bytes from seed."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


def b64_lines(data, nl):
    enc = base64.b64encode(data)
    return nl.join(enc[i:i + 76] for i in range(0, len(enc), 76)) + nl


def text_line(seed, n):
    """A printable ASCII line of exactly n octets (no leading dot)."""
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 "
    raw = prng(seed, n)
    line = bytes(alphabet[b % len(alphabet)] for b in raw)
    return b"L" + line[1:]


def hdr(subject, extra=b"", nl=b"\n"):
    lines = [
        b"From: Test Sender <sender@example.org>",
        b"To: Someone <someone@example.test>",
        b"Subject: " + subject,
        b"Date: Mon, 01 Jan 2024 12:00:00 +0000",
        b"Message-ID: <" + subject.replace(b" ", b".").lower()
        + b"@corpus.example.org>",
        b"MIME-Version: 1.0",
    ]
    out = nl.join(lines) + nl
    if extra:
        out += extra.replace(b"\n", nl)
    return out


def plain(subject, body, extra=b"", nl=b"\n"):
    ct = b"Content-Type: text/plain; charset=us-ascii\n"
    return hdr(subject, ct + extra, nl) + nl + body.replace(b"\n", nl)


FILES = {}


def add(name, data):
    FILES[name] = data


def build():
    body = (b"Hello,\n\nThis is a plain message with LF line endings.\n"
            b"It has a few lines.\n\n-- \nsender\n")
    add("plain-lf.eml", plain(b"Plain LF", body))
    add("plain-crlf.eml", plain(b"Plain CRLF", body, nl=b"\r\n"))

    add("multipart-alternative.eml", hdr(
        b"Multipart alternative",
        b'Content-Type: multipart/alternative; boundary="alt-b1"\n') +
        b"\nThis is a multi-part message in MIME format.\n\n"
        b"--alt-b1\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n"
        b"Caf=C3=A9 au lait, soft line break=\n here.\n\n"
        b"--alt-b1\nContent-Type: text/html; charset=utf-8\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n"
        b"<html><body><p>Caf=C3=A9 au lait</p></body></html>\n\n"
        b"--alt-b1--\n")

    png = prng(b"small-attachment", 3000)
    add("multipart-mixed-attachment.eml", hdr(
        b"Multipart mixed with attachment",
        b'Content-Type: multipart/mixed; boundary="mix-b1"\n',
        nl=b"\r\n") +
        b"\r\n--mix-b1\r\nContent-Type: text/plain; charset=us-ascii\r\n"
        b"\r\nSee the attachment.\r\n\r\n"
        b"--mix-b1\r\nContent-Type: image/png; name=\"pixel.png\"\r\n"
        b"Content-Disposition: attachment; filename=\"pixel.png\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" +
        b64_lines(png, b"\r\n") + b"\r\n--mix-b1--\r\n")

    for size, label in ((65536, b"64k"), (1000000, b"1m")):
        blob = prng(b"attachment-" + label, size)
        nested = (b'Content-Type: multipart/mixed; boundary="outer"\n')
        add("attachment-%s.eml" % label.decode(), hdr(
            b"Attachment " + label, nested) +
            b"\n--outer\nContent-Type: multipart/alternative; "
            b'boundary="inner"\n\n'
            b"--inner\nContent-Type: text/plain\n\nA %d-byte file.\n\n"
            % size +
            b"--inner\nContent-Type: text/html\n\n<p>A file.</p>\n\n"
            b"--inner--\n\n"
            b"--outer\nContent-Type: application/octet-stream; "
            b'name="blob.bin"\n'
            b'Content-Disposition: attachment; filename="blob.bin"\n'
            b"Content-Transfer-Encoding: base64\n\n" +
            b64_lines(blob, b"\n") + b"\n--outer--\n")

    add("body-8bit-latin1.eml", hdr(
        b"Eight bit Latin-1 body",
        b"Content-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: 8bit\n") +
        b"\nGr\xfc\xdfe aus K\xf6ln, \xe0 bient\xf4t, \xa9 \xbd \xff\n"
        b"Every byte from 0x80 to 0xff follows:\n" +
        bytes(range(0x80, 0x100)) + b"\n")

    add("body-8bit-utf8.eml", hdr(
        b"Eight bit UTF-8 body",
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n", nl=b"\r\n") +
        b"\r\n" + "Grüße aus Köln. Ελληνικά. 日本語のテキスト. "
        "Emoji: \U0001F4EC\r\nΣ ≠ ∑, ½ ≈ 0.5\r\n".encode("utf-8"))

    add("header-rfc2047.eml",
        b"From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.org>\n"
        b"To: =?ISO-8859-1?Q?Andr=E9?= <someone@example.test>\n"
        b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?= and\n"
        b" =?UTF-8?Q?more_=E2=82=AC_text?=\n"
        b"Date: Mon, 01 Jan 2024 12:00:00 +0000\n"
        b"Message-ID: <rfc2047@corpus.example.org>\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n"
        b"Encoded words in the header section only.\n")

    add("header-utf8-raw.eml",
        "From: Jörg Müller <joerg@example.org>\n"
        "To: André Ωmega <someone@example.test>\n"
        "Subject: Grüße, 日本語, \U0001F4EC in a raw UTF-8 header\n"
        "Date: Mon, 01 Jan 2024 12:00:00 +0000\n"
        "Message-ID: <utf8-raw@corpus.example.org>\n"
        "X-Ünïcödé-Note: raw UTF-8 field body\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\n"
        "Body with UTF-8: naïve café.\n".encode("utf-8"))

    dots = (b"Lines that start with dots:\n"
            b".\n..\n...\n.foo\n..bar\n. space after the dot\n"
            b"\t.tab first, not a dot line\n"
            b"A line with a dot at the end.\n"
            b".\n"
            b"The last line is a single dot:\n.\n")
    add("dots-lf.eml", plain(b"Dots LF", dots))
    add("dots-crlf.eml", plain(b"Dots CRLF", dots, nl=b"\r\n"))
    add("dots-no-final-newline.eml",
        plain(b"Dots no final newline",
              b"The message ends with a dot line without a newline:\n."))
    add("dots-only-body.eml", plain(b"Dots only body", b".\n"))

    add("folded-headers.eml",
        b"Received: from relay1.example.org (relay1.example.org [192.0.2.1])\n"
        b"\tby mx.example.org with ESMTP id 1A2B3C\n"
        b"\tfor <someone@example.test>; Mon, 01 Jan 2024 11:59:58 +0000\n"
        b"Received: from client.example.org ([192.0.2.7])\n"
        b"        by relay1.example.org with SMTP id 4D5E6F;\n"
        b"        Mon, 01 Jan 2024 11:59:57 +0000\n"
        b"From: Test Sender\n <sender@example.org>\n"
        b"To: someone@example.test,\n\tother@example.test,\n"
        b"    third@example.test\n"
        b"Subject: This subject is folded over several lines because it is\n"
        b" rather long and the sender's client wrapped it at a space\n"
        b"\tand then once more at a tab\n"
        b"Date: Mon, 01 Jan 2024 12:00:00 +0000\n"
        b"Message-ID: <folded@corpus.example.org>\n"
        b"References: <a1@example.org>\n <a2@example.org>\n"
        b" <a3@example.org>\n <a4@example.org>\n"
        b"X-Empty-Continuation: first\n \n last\n"
        b"\n"
        b"Folded header fields are kept exactly as they came.\n")

    for n in (2000, 20000, 65000):
        add("long-line-%d.eml" % n, plain(
            b"Long line %d" % n,
            b"The next line is %d octets long.\n" % n +
            text_line(b"long-%d" % n, n) + b"\nEnd.\n"))
    add("long-header-line.eml", hdr(
        b"Long header line",
        b"X-Long: " + text_line(b"long-header", 4992) + b"\n"
        b"Content-Type: text/plain\n") + b"\nA 5000-octet header line.\n")

    add("no-final-newline.eml",
        plain(b"No final newline", b"The last line has no terminator"))
    add("empty-body.eml", hdr(b"Empty body") + b"\n")
    add("headers-only.eml",
        b"From: sender@example.org\nTo: someone@example.test\n"
        b"Subject: Header section only, no empty line\n")
    add("mixed-line-endings.eml",
        b"From: sender@example.org\r\nTo: someone@example.test\n"
        b"Subject: Mixed line endings\r\n\r\n"
        b"CRLF line\r\nLF line\nCRLF again\r\n.dot after LF\n")
    add("whitespace-and-controls.eml", plain(
        b"Whitespace and control characters",
        b"trailing spaces   \n"
        b"trailing tab\t\n"
        b"   \n"
        b"\t\n"
        b"\n\n\n"
        b"form feed \x0c and escape \x1b[0m and bell \x07 and DEL \x7f\n"
        b"From the start of a line (no > quoting)\n"
        b">From already quoted\n"
        b"From \n"))
    add("message-rfc822.eml", hdr(
        b"Forwarded message",
        b'Content-Type: multipart/mixed; boundary="fwd"\n') +
        b"\n--fwd\nContent-Type: text/plain\n\nForwarded below.\n\n"
        b"--fwd\nContent-Type: message/rfc822\n\n"
        b"Received: from inner.example.org by example.org;"
        b" Sun, 31 Dec 2023 10:00:00 +0000\n"
        b"From: inner@example.org\nTo: sender@example.org\n"
        b"Subject: Inner\n\nInner body.\n.\n..inner dots\n\n"
        b"--fwd--\n")
    add("dsn-report.eml",
        b"From: MAILER-DAEMON@example.org\n"
        b"To: someone@example.test\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"Date: Mon, 01 Jan 2024 12:00:00 +0000\n"
        b"Message-ID: <dsn@corpus.example.org>\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status;\n"
        b'\tboundary="dsn-b"\n\n'
        b"--dsn-b\nContent-Type: text/plain\n\nDelivery failed.\n\n"
        b"--dsn-b\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; example.org\n\n"
        b"Final-Recipient: rfc822; nobody@example.org\n"
        b"Action: failed\nStatus: 5.1.1\n\n"
        b"--dsn-b\nContent-Type: text/rfc822-headers\n\n"
        b"From: someone@example.test\nSubject: original\n\n"
        b"--dsn-b--\n")

    # Rule-breakers (see EXPECT.tsv).
    add("long-line-70000.eml", plain(
        b"Line over the cap",
        b"The next line is 70000 octets, over the 64 KiB cap.\n" +
        text_line(b"long-70000", 70000) + b"\nEnd.\n"))
    add("nul-bytes.eml", plain(
        b"NUL bytes", b"This line holds a NUL \x00 byte.\nAnd \x00\x00.\n"))


def main():
    build()
    for name, data in sorted(FILES.items()):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    print("wrote %d files to %s" % (len(FILES), HERE))


if __name__ == "__main__":
    main()
