/*
 * lwmail tests - the message corpus of test_mime.c (written for it). Each
 * entry: name, message text (\n becomes CRLF unless lf is set), and the
 * expected ENVELOPE, BODYSTRUCTURE and BODY (NULL: not compared; still
 * checked for grammar and chunking).
 */

static const struct cmsg corpus[] = {
/* ------------------------------------------------------------ plain */
{ "plain",
  "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\n"
  "From: Fred Foobar <foobar@Blurdybloop.example>\n"
  "Subject: afternoon meeting\n"
  "To: mooch@owatagu.siam.edu.example\n"
  "Message-Id: <B27397-0100000@Blurdybloop.example>\n"
  "MIME-Version: 1.0\n"
  "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
  "\n"
  "Hello Joe, do you think we can meet at 3:30 tomorrow?\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ alternative */
{ "alternative",
  "From: Alice <alice@example.org>\n"
  "To: Bob <bob@example.net>, carol@example.net\n"
  "Cc: \"Dave, Jr.\" <dave@example.com>\n"
  "Subject: Lunch\n"
  "Date: Tue, 1 Feb 2026 12:00:00 +0100\n"
  "Message-ID: <lunch-1@example.org>\n"
  "In-Reply-To: <q-9@example.net>\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/alternative; boundary=\"=_alt_42\"\n"
  "\n"
  "This is a multi-part message in MIME format.\n"
  "--=_alt_42\n"
  "Content-Type: text/plain; charset=utf-8\n"
  "Content-Transfer-Encoding: quoted-printable\n"
  "\n"
  "Caf=C3=A9 at noon? Long line that is wrapped with a soft line break=\n"
  " here.\n"
  "--=_alt_42\n"
  "Content-Type: text/html; charset=\"utf-8\"\n"
  "Content-Transfer-Encoding: quoted-printable\n"
  "\n"
  "<p>Caf=C3=A9 at noon?</p>\n"
  "\n"
  "--=_alt_42--\n"
  "epilogue\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ mixed */
{ "mixed",
  "From: sender@example.com\n"
  "To: rcpt@example.com\n"
  "Subject: report\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed;\n"
  " boundary=\"----=_Part_0_1234.5678\"\n"
  "\n"
  "------=_Part_0_1234.5678\n"
  "Content-Type: text/plain; charset=us-ascii\n"
  "Content-Transfer-Encoding: 7bit\n"
  "\n"
  "See the attachment.\n"
  "------=_Part_0_1234.5678\n"
  "Content-Type: application/pdf; name=\"report.pdf\"\n"
  "Content-Transfer-Encoding: base64\n"
  "Content-Disposition: attachment; filename=\"report.pdf\"\n"
  "Content-Description: The Report\n"
  "\n"
  "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK\n"
  "dHJhaWxlcgo8PC9Sb290IDEgMCBSPj4KJSVFT0YK\n"
  "------=_Part_0_1234.5678\n"
  "Content-Type: image/png\n"
  "Content-Transfer-Encoding: base64\n"
  "Content-ID: <img1@example.com>\n"
  "Content-Disposition: inline\n"
  "Content-Language: en, de\n"
  "Content-Location: http://example.com/a.png\n"
  "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
  "\n"
  "iVBORw0KGgo=\n"
  "------=_Part_0_1234.5678--\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ rfc822 */
{ "rfc822",
  "From: fwd@example.com\n"
  "To: you@example.com\n"
  "Subject: Fwd: hello\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed; boundary=outer\n"
  "\n"
  "--outer\n"
  "Content-Type: text/plain\n"
  "\n"
  "Forwarded below.\n"
  "--outer\n"
  "Content-Type: message/rfc822\n"
  "Content-Description: original\n"
  "\n"
  "From: Orig <orig@example.org>\n"
  "Sender: list@example.org\n"
  "Reply-To: replies@example.org\n"
  "To: group: a@example.org, b@example.org;\n"
  "Subject: hello\n"
  "Date: Wed, 2 Feb 2026 08:00:00 +0000\n"
  "Message-ID: <orig@example.org>\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/alternative; boundary=inner\n"
  "\n"
  "--inner\n"
  "Content-Type: text/plain\n"
  "\n"
  "hi\n"
  "--inner\n"
  "Content-Type: text/html\n"
  "\n"
  "<b>hi</b>\n"
  "--inner--\n"
  "\n"
  "--outer--\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ digest */
{ "digest",
  "From: digest@example.com\n"
  "Subject: Digest 12\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/digest; boundary=\"d\"\n"
  "\n"
  "--d\n"
  "\n"
  "From: one@example.com\n"
  "Subject: first\n"
  "\n"
  "first body\n"
  "--d\n"
  "\n"
  "From: two@example.com\n"
  "Subject: second\n"
  "\n"
  "second body\n"
  "--d\n"
  "Content-Type: text/plain\n"
  "\n"
  "not a message\n"
  "--d--\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ encoded */
{ "encoded",
  "From: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@example.dk>\n"
  "To: =?US-ASCII?Q?Keith_Moore?= <moore@example.edu>\n"
  "Subject: =?UTF-8?B?SGVsbG8gV29ybGQ=?= and\n"
  " =?UTF-8?Q?more_text?=\n"
  "Content-Type: text/plain; charset=\"iso-8859-1\"\n"
  "Content-Transfer-Encoding: quoted-printable\n"
  "\n"
  "F=F8rst line=20\n"
  "second=\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ 8bit */
{ "8bit",
  "From: J\xc3\xbcrgen <juergen@example.de>\n"
  "Subject: Gr\xc3\xbc\xc3\x9f\x65 \"quoted\" back\\slash\n"
  "Content-Type: text/plain; charset=utf-8\n"
  "Content-Transfer-Encoding: 8bit\n"
  "\n"
  "Gr\xc3\xbc\xc3\x9f\x65\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ addresses */
{ "addresses",
  "From: \"Joe Q. Public\" <john.q.public@example.com>\n"
  "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\n"
  "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\n"
  "Bcc: undisclosed-recipients:;\n"
  "Reply-To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\n"
  "Sender: jdoe@example.org (John Doe)\n"
  "Subject: odd addresses\n"
  "\n"
  "body\n",
  0, NULL, NULL, NULL },
{ "addresses2",
  "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\n"
  "To: <@route.one,@route.two:user@final.test>, nodomain, two words,\n"
  "   \"quoted local\"@example.com, , ;, @, <>, x@[127.0.0.1]\n"
  "Cc: \"unterminated <a@b.c>\n"
  "Bcc: list: one@a.test, two@b.test\n"
  "Subject: more\n"
  "\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ no type */
{ "notype",
  "From: a@b.c\n"
  "Subject: no content-type\n"
  "\n"
  "line 1\n"
  "line 2\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ broken */
{ "noclose",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed; boundary=b1\n"
  "\n"
  "--b1\n"
  "Content-Type: text/plain\n"
  "\n"
  "part one\n"
  "--b1\n"
  "Content-Type: text/plain\n"
  "\n"
  "part two, no close delimiter\n",
  0, NULL, NULL, NULL },
{ "nobound",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed; boundary=never\n"
  "\n"
  "no delimiter ever\n"
  "--nevermind\n"
  "--never-x\n",
  0, NULL, NULL, NULL },
{ "noboundparam",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed\n"
  "\n"
  "--x\n"
  "text\n",
  0, NULL, NULL, NULL },
{ "hdrcut",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed; boundary=\"cut\"\n"
  "\n"
  "--cut\n"
  "Content-Type: text/plain\n"
  "--cut\n"
  "\n"
  "second\n"
  "--cut--\n",
  0, NULL, NULL, NULL },
{ "outer_ends_inner",
  "Content-Type: multipart/mixed; boundary=\"A\"\n"
  "MIME-Version: 1.0\n"
  "\n"
  "--A\n"
  "Content-Type: multipart/alternative; boundary=\"AB\"\n"
  "\n"
  "--AB\n"
  "Content-Type: text/plain\n"
  "\n"
  "inner, never closed\n"
  "--A\n"
  "Content-Type: text/plain\n"
  "\n"
  "after\n"
  "--A--\n",
  0, NULL, NULL, NULL },
{ "padding",
  "Content-Type: multipart/mixed; boundary=pad\n"
  "MIME-Version: 1.0\n"
  "\n"
  "--pad  \t\n"
  "\n"
  "one\n"
  "--pad-- trailing junk\n"
  "--pad\n"
  "epilogue that looks like a delimiter\n",
  0, NULL, NULL, NULL },

/* ------------------------------------------------------------ LF only */
{ "lf",
  "From: lf@example.com\n"
  "Subject: bare LF\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed; boundary=lf\n"
  "\n"
  "--lf\n"
  "Content-Type: text/plain\n"
  "\n"
  "one\n"
  "two\n"
  "--lf\n"
  "Content-Type: application/octet-stream\n"
  "Content-Transfer-Encoding: base64\n"
  "\n"
  "AAECAwQF\n"
  "--lf--\n",
  1, NULL, NULL, NULL },

/* ------------------------------------------------------------ degenerate */
{ "empty", "", 0, NULL, NULL, NULL },
{ "hdronly",
  "From: a@b.c\n"
  "Subject: header only, no blank line\n",
  0, NULL, NULL, NULL },
{ "hdronly_blank",
  "Subject: header and blank line\n"
  "\n",
  0, NULL, NULL, NULL },
{ "bodyonly",
  "\n"
  "just a body\n",
  0, NULL, NULL, NULL },
{ "toplevel822",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: message/rfc822\n"
  "\n"
  "From: inner@b.c\n"
  "Subject: inner\n"
  "\n"
  "inner body\n",
  0, NULL, NULL, NULL },
{ "b64_822",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed; boundary=q\n"
  "\n"
  "--q\n"
  "Content-Type: message/rfc822\n"
  "Content-Transfer-Encoding: base64\n"
  "\n"
  "RnJvbTogeEB5LnoKCmhpCg==\n"
  "--q--\n",
  0, NULL, NULL, NULL },
{ "params",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: text/plain (comment) ; charset = \"utf-8\" (c2);\n"
  "\tformat=flowed; delsp=yes; junk; name*0=\"long\"; name*1=\"er.txt\";\n"
  "\ttitle*=us-ascii'en'This%20is; empty=\"\"; q=\"a\\\"b\"\n"
  "Content-Disposition: attachment; filename=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.txt?=\"\n"
  "Content-Transfer-Encoding: x-uuencode\n"
  "\n"
  "x\n",
  0, NULL, NULL, NULL },
};

#define NCORPUS (sizeof corpus / sizeof corpus[0])
