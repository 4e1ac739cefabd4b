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
  0,
  /* ENVELOPE */
  "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"afternoon meeting\" (("
  "\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred "
  "Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar"
  "\" NIL \"foobar\" \"Blurdybloop.example\")) ((NIL NIL \"mooch\" \""
  "owatagu.siam.edu.example\")) NIL NIL NIL \"<B27397-0100000@Blurdyb"
  "loop.example>\")",
  /* BODYSTRUCTURE */
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55"
  " 1 NIL NIL NIL NIL)",
  /* BODY */
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55"
  " 1)" },

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
  0,
  /* ENVELOPE */
  "(\"Tue, 1 Feb 2026 12:00:00 +0100\" \"Lunch\" ((\"Alice\" NIL \"al"
  "ice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")"
  ") ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Bob\" NIL \"bob"
  "\" \"example.net\")(NIL NIL \"carol\" \"example.net\")) ((\"Dave, "
  "Jr.\" NIL \"dave\" \"example.com\")) NIL \"<q-9@example.net>\" \"<"
  "lunch-1@example.org>\")",
  /* BODYSTRUCTURE */
  "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"QUOTED-PRIN"
  "TABLE\" 76 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf"
  "-8\") NIL NIL \"QUOTED-PRINTABLE\" 27 1 NIL NIL NIL NIL) \"alterna"
  "tive\" (\"boundary\" \"=_alt_42\") NIL NIL NIL)",
  /* BODY */
  "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"QUOTED-PRIN"
  "TABLE\" 76 1)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \""
  "QUOTED-PRINTABLE\" 27 1) \"alternative\")" },

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
  0,
  /* ENVELOPE */
  "(NIL \"report\" ((NIL NIL \"sender\" \"example.com\")) ((NIL NIL "
  "\"sender\" \"example.com\")) ((NIL NIL \"sender\" \"example.com\")"
  ") ((NIL NIL \"rcpt\" \"example.com\")) NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1"
  "9 0 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"report.pd"
  "f\") NIL \"The Report\" \"BASE64\" 106 NIL (\"attachment\" (\"file"
  "name\" \"report.pdf\")) NIL NIL)(\"image\" \"png\" NIL \"<img1@exa"
  "mple.com>\" NIL \"BASE64\" 12 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"inli"
  "ne\" NIL) (\"en\" \"de\") \"http://example.com/a.png\") \"mixed\" "
  "(\"boundary\" \"----=_Part_0_1234.5678\") NIL NIL NIL)",
  /* BODY */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1"
  "9 0)(\"application\" \"pdf\" (\"name\" \"report.pdf\") NIL \"The R"
  "eport\" \"BASE64\" 106)(\"image\" \"png\" NIL \"<img1@example.com>"
  "\" NIL \"BASE64\" 12) \"mixed\")" },

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
  0,
  /* ENVELOPE */
  "(NIL \"Fwd: hello\" ((NIL NIL \"fwd\" \"example.com\")) ((NIL NIL "
  "\"fwd\" \"example.com\")) ((NIL NIL \"fwd\" \"example.com\")) ((NI"
  "L NIL \"you\" \"example.com\")) NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1"
  "6 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL \"original\" "
  "\"7BIT\" 389 (\"Wed, 2 Feb 2026 08:00:00 +0000\" \"hello\" ((\"Ori"
  "g\" NIL \"orig\" \"example.org\")) ((NIL NIL \"list\" \"example.or"
  "g\")) ((NIL NIL \"replies\" \"example.org\")) ((NIL NIL \"group\" "
  "NIL)(NIL NIL \"a\" \"example.org\")(NIL NIL \"b\" \"example.org\")"
  "(NIL NIL NIL NIL)) NIL NIL NIL \"<orig@example.org>\") ((\"text\" "
  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 2 0 NIL NIL "
  "NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7B"
  "IT\" 9 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\")"
  " NIL NIL NIL) 19 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer"
  "\") NIL NIL NIL)",
  /* BODY */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1"
  "6 0)(\"message\" \"rfc822\" NIL NIL \"original\" \"7BIT\" 389 (\"W"
  "ed, 2 Feb 2026 08:00:00 +0000\" \"hello\" ((\"Orig\" NIL \"orig\" "
  "\"example.org\")) ((NIL NIL \"list\" \"example.org\")) ((NIL NIL "
  "\"replies\" \"example.org\")) ((NIL NIL \"group\" NIL)(NIL NIL \"a"
  "\" \"example.org\")(NIL NIL \"b\" \"example.org\")(NIL NIL NIL NIL"
  ")) NIL NIL NIL \"<orig@example.org>\") ((\"text\" \"plain\" (\"cha"
  "rset\" \"us-ascii\") NIL NIL \"7BIT\" 2 0)(\"text\" \"html\" (\"ch"
  "arset\" \"us-ascii\") NIL NIL \"7BIT\" 9 0) \"alternative\") 19) "
  "\"mixed\")" },

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
  0,
  /* ENVELOPE */
  "(NIL \"Digest 12\" ((NIL NIL \"digest\" \"example.com\")) ((NIL NI"
  "L \"digest\" \"example.com\")) ((NIL NIL \"digest\" \"example.com"
  "\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 51 (NIL \"first\" (("
  "NIL NIL \"one\" \"example.com\")) ((NIL NIL \"one\" \"example.com"
  "\")) ((NIL NIL \"one\" \"example.com\")) NIL NIL NIL NIL NIL) (\"t"
  "ext\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 10 0 N"
  "IL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL "
  "NIL \"7BIT\" 53 (NIL \"second\" ((NIL NIL \"two\" \"example.com\")"
  ") ((NIL NIL \"two\" \"example.com\")) ((NIL NIL \"two\" \"example."
  "com\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us"
  "-ascii\") NIL NIL \"7BIT\" 11 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL"
  ")(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1"
  "3 0 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)",
  /* BODY */
  "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 51 (NIL \"first\" (("
  "NIL NIL \"one\" \"example.com\")) ((NIL NIL \"one\" \"example.com"
  "\")) ((NIL NIL \"one\" \"example.com\")) NIL NIL NIL NIL NIL) (\"t"
  "ext\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 10 0) "
  "3)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 53 (NIL \"second\" "
  "((NIL NIL \"two\" \"example.com\")) ((NIL NIL \"two\" \"example.co"
  "m\")) ((NIL NIL \"two\" \"example.com\")) NIL NIL NIL NIL NIL) (\""
  "text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 11 0)"
  " 3)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\""
  " 13 0) \"digest\")" },

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
  0,
  /* ENVELOPE */
  "(NIL \"=?UTF-8?B?SGVsbG8gV29ybGQ=?= and =?UTF-8?Q?more_text?=\" (("
  "\"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=\" NIL \"keld\" \"example.d"
  "k\")) ((\"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=\" NIL \"keld\" \"e"
  "xample.dk\")) ((\"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=\" NIL \"ke"
  "ld\" \"example.dk\")) ((\"=?US-ASCII?Q?Keith_Moore?=\" NIL \"moore"
  "\" \"example.edu\")) NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"QUOTED-"
  "PRINTABLE\" 26 2 NIL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"QUOTED-"
  "PRINTABLE\" 26 2)" },

/* ------------------------------------------------------------ 8bit */
{ "8bit",
  "From: J\xc3\xbcrgen <juergen@example.de>\n"
  "Subject: Gr\xc3\xbc\xc3\x9f\x65 \"quoted\" back\\slash\n"
  "Content-Type: text/plain; charset=utf-8\n"
  "Content-Transfer-Encoding: 8bit\n"
  "\n"
  "Gr\xc3\xbc\xc3\x9f\x65\n",
  0,
  /* ENVELOPE */
  "(NIL {27}\r\nGr\xc3\xbc\xc3\x9f" "e \"quoted\" back\\slash (({7}\r\nJ"
  "\xc3\xbcrgen NIL \"juergen\" \"example.de\")) (({7}\r\nJ\xc3\xbcrg"
  "en NIL \"juergen\" \"example.de\")) (({7}\r\nJ\xc3\xbcrgen NIL \"j"
  "uergen\" \"example.de\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8BIT\" 9 1 N"
  "IL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8BIT\" 9 1)" },

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
  0,
  /* ENVELOPE */
  "(NIL \"odd addresses\" ((\"Joe Q. Public\" NIL \"john.q.public\" "
  "\"example.com\")) ((\"John Doe\" NIL \"jdoe\" \"example.org\")) (("
  "NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NI"
  "L \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" \"one.test\")(NIL "
  "NIL NIL NIL)) ((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \""
  "jdoe\" \"example.org\")(\"Who?\" NIL \"one\" \"y.test\")) ((NIL NI"
  "L \"boss\" \"nil.test\")(\"Giant; \\\"Big\\\" Box\" NIL \"sysservi"
  "ces\" \"example.net\")) ((NIL NIL \"undisclosed-recipients\" NIL)("
  "NIL NIL NIL NIL)) NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 6 "
  "1 NIL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 6 "
  "1)" },
{ "addresses2",
  "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\n"
  "To: <@route.one,@route.two:user@final.test>, nodomain, two words,\n"
  "   \"quoted local\"@example.com, , ;, @, <>, x@[127.0.0.1]\n"
  "Cc: \"unterminated <a@b.c>\n"
  "Bcc: list: one@a.test, two@b.test\n"
  "Subject: more\n"
  "\n",
  0,
  /* ENVELOPE */
  "(NIL \"more\" ((\"Pete\" NIL \"pete\" \"silly.test\")) ((\"Pete\" "
  "NIL \"pete\" \"silly.test\")) ((\"Pete\" NIL \"pete\" \"silly.test"
  "\")) ((NIL \"@route.one,@route.two\" \"user\" \"final.test\")(NIL "
  "NIL \"nodomain\" \"MISSING_DOMAIN\")(\"two words\" NIL \"MISSING_M"
  "AILBOX\" \"MISSING_DOMAIN\")(NIL NIL \"quoted local\" \"example.co"
  "m\")(NIL NIL \"x\" \"[127.0.0.1]\")) ((NIL NIL \"unterminated <a@b"
  ".c>\" \"MISSING_DOMAIN\")) ((NIL NIL \"list\" NIL)(NIL NIL \"one\""
  " \"a.test\")(NIL NIL \"two\" \"b.test\")(NIL NIL NIL NIL)) NIL NIL"
  ")",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
  "0 NIL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
  "0)" },

/* ------------------------------------------------------------ no type */
{ "notype",
  "From: a@b.c\n"
  "Subject: no content-type\n"
  "\n"
  "line 1\n"
  "line 2\n",
  0,
  /* ENVELOPE */
  "(NIL \"no content-type\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\""
  " \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 16"
  " 2 NIL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 16"
  " 2)" },

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
  0,
  /* ENVELOPE */
  "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL"
  " NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 8"
  " 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
  "NIL NIL \"7BIT\" 30 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b"
  "1\") NIL NIL NIL)",
  /* BODY */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 8"
  " 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\""
  " 30 1) \"mixed\")" },
{ "nobound",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed; boundary=never\n"
  "\n"
  "no delimiter ever\n"
  "--nevermind\n"
  "--never-x\n",
  0,
  /* ENVELOPE */
  "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL"
  " NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0"
  " 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"never\") NIL NIL NIL"
  ")",
  /* BODY */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0"
  " 0) \"mixed\")" },
{ "noboundparam",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: multipart/mixed\n"
  "\n"
  "--x\n"
  "text\n",
  0,
  /* ENVELOPE */
  "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL"
  " NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"application\" \"octet-stream\" NIL NIL NIL \"7BIT\" 11 NIL NIL "
  "NIL NIL)",
  /* BODY */
  "(\"application\" \"octet-stream\" NIL NIL NIL \"7BIT\" 11)" },
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
  0,
  /* ENVELOPE */
  "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL"
  " NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0"
  " 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
  "NIL NIL \"7BIT\" 6 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"cu"
  "t\") NIL NIL NIL)",
  /* BODY */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0"
  " 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\""
  " 6 0) \"mixed\")" },
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
  0,
  /* ENVELOPE */
  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" "
  "19 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"AB\") NIL NI"
  "L NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BI"
  "T\" 5 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"A\") NIL NIL NI"
  "L)",
  /* BODY */
  "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" "
  "19 0) \"alternative\")(\"text\" \"plain\" (\"charset\" \"us-ascii"
  "\") NIL NIL \"7BIT\" 5 0) \"mixed\")" },
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
  0,
  /* ENVELOPE */
  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 3"
  " 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"pad\") NIL NIL NIL)",
  /* BODY */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 3"
  " 0) \"mixed\")" },

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
  1,
  /* ENVELOPE */
  "(NIL \"bare LF\" ((NIL NIL \"lf\" \"example.com\")) ((NIL NIL \"lf"
  "\" \"example.com\")) ((NIL NIL \"lf\" \"example.com\")) NIL NIL NI"
  "L NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 7"
  " 1 NIL NIL NIL NIL)(\"application\" \"octet-stream\" NIL NIL NIL "
  "\"BASE64\" 8 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"lf\") NIL "
  "NIL NIL)",
  /* BODY */
  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 7"
  " 1)(\"application\" \"octet-stream\" NIL NIL NIL \"BASE64\" 8) \"m"
  "ixed\")" },

/* ------------------------------------------------------------ degenerate */
{ "empty", "",
  0,
  /* ENVELOPE */
  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
  "0 NIL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
  "0)" },
{ "hdronly",
  "From: a@b.c\n"
  "Subject: header only, no blank line\n",
  0,
  /* ENVELOPE */
  "(NIL \"header only, no blank line\" ((NIL NIL \"a\" \"b.c\")) ((NI"
  "L NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NI"
  "L)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
  "0 NIL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
  "0)" },
{ "hdronly_blank",
  "Subject: header and blank line\n"
  "\n",
  0,
  /* ENVELOPE */
  "(NIL \"header and blank line\" NIL NIL NIL NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
  "0 NIL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
  "0)" },
{ "bodyonly",
  "\n"
  "just a body\n",
  0,
  /* ENVELOPE */
  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 13"
  " 1 NIL NIL NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 13"
  " 1)" },
{ "toplevel822",
  "From: a@b.c\n"
  "MIME-Version: 1.0\n"
  "Content-Type: message/rfc822\n"
  "\n"
  "From: inner@b.c\n"
  "Subject: inner\n"
  "\n"
  "inner body\n",
  0,
  /* ENVELOPE */
  "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL"
  " NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 47 (NIL \"inner\" ((N"
  "IL NIL \"inner\" \"b.c\")) ((NIL NIL \"inner\" \"b.c\")) ((NIL NIL"
  " \"inner\" \"b.c\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"c"
  "harset\" \"us-ascii\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL) 4 NI"
  "L NIL NIL NIL)",
  /* BODY */
  "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 47 (NIL \"inner\" ((N"
  "IL NIL \"inner\" \"b.c\")) ((NIL NIL \"inner\" \"b.c\")) ((NIL NIL"
  " \"inner\" \"b.c\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"c"
  "harset\" \"us-ascii\") NIL NIL \"7BIT\" 12 1) 4)" },
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
  0,
  /* ENVELOPE */
  "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL"
  " NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "((\"application\" \"octet-stream\" NIL NIL NIL \"BASE64\" 24 NIL N"
  "IL NIL NIL) \"mixed\" (\"boundary\" \"q\") NIL NIL NIL)",
  /* BODY */
  "((\"application\" \"octet-stream\" NIL NIL NIL \"BASE64\" 24) \"mi"
  "xed\")" },
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
  0,
  /* ENVELOPE */
  "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL"
  " NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
  /* BODYSTRUCTURE */
  "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\" "
  "\"delsp\" \"yes\" \"name*0\" \"long\" \"name*1\" \"er.txt\" \"titl"
  "e*\" \"us-ascii'en'This%20is\" \"empty\" \"\" \"q\" \"a\\\"b\") NI"
  "L NIL \"x-uuencode\" 3 1 NIL (\"attachment\" (\"filename\" \"=?UTF"
  "-8?Q?r=C3=A9sum=C3=A9.txt?=\")) NIL NIL)",
  /* BODY */
  "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\" "
  "\"delsp\" \"yes\" \"name*0\" \"long\" \"name*1\" \"er.txt\" \"titl"
  "e*\" \"us-ascii'en'This%20is\" \"empty\" \"\" \"q\" \"a\\\"b\") NI"
  "L NIL \"x-uuencode\" 3 1)" },
};

#define NCORPUS (sizeof corpus / sizeof corpus[0])
