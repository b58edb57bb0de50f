# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_loopgate_global_optspecs
    string join \n h/help V/version
end

function __fish_loopgate_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_loopgate_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_loopgate_using_subcommand
    set -l cmd (__fish_loopgate_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c loopgate -n "__fish_loopgate_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c loopgate -n "__fish_loopgate_needs_command" -s V -l version -d 'Print version'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "serve" -d 'Run the gateway. Without --config: dev mode in ./loopgate-dev/ (made once)'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "dev" -d 'Dev-mode helpers: more client certificates from the dev CA'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "keygen" -d 'Create a new Ed25519 log signing key (file mode 0600) and print its verifier key'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "audit" -d 'Verify the audit log or a receipt offline; benchmark the log'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "policy" -d 'Validate policy bundles and evaluate transfers offline, exactly as the gateway would'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "witness" -d 'A C2SP tlog-witness: make its key, or run it to cosign a log\'s consistent checkpoints'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "tenant" -d 'Suspend a tenant at once, or lift its suspension, through the admin API'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "check-config" -d 'Validate a gateway config and every file it names, without binding; exit 0, or 64 with one line per problem'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "completions" -d 'Print the shell completion script for SHELL on standard output (deploy/install.sh and the .deb install bash\'s, zsh\'s and fish\'s)'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "man" -d 'Print the loopgate(1) man page (roff) on standard output, or write every page, one per command, into --dir'
complete -c loopgate -n "__fish_loopgate_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand serve" -l config -d 'The gateway config (TOML). Without it: dev mode in ./loopgate-dev/' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand serve" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and not __fish_seen_subcommand_from cert init help" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and not __fish_seen_subcommand_from cert init help" -f -a "cert" -d 'Issue one more client certificate from the dev CA into pki/<role>-<id>.{pem,key}'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and not __fish_seen_subcommand_from cert init help" -f -a "init" -d 'Make the dev folder (as `serve` without --config does) without serving'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and not __fish_seen_subcommand_from cert init help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from cert" -l role -d 'tenant, carrier, regulator or admin' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from cert" -l id -d 'The id (a tenant id for tenants)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from cert" -l dir -d 'The dev folder' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from cert" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from init" -l dir -d 'The dev folder' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from help" -f -a "cert" -d 'Issue one more client certificate from the dev CA into pki/<role>-<id>.{pem,key}'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from help" -f -a "init" -d 'Make the dev folder (as `serve` without --config does) without serving'
complete -c loopgate -n "__fish_loopgate_using_subcommand dev; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand keygen" -l out -d 'Where to write the key; must not exist' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand keygen" -l name -d 'The key name: the log\'s checkpoint origin, e.g. `loopgate.example/audit`' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and not __fish_seen_subcommand_from verify bench fill help" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and not __fish_seen_subcommand_from verify bench fill help" -f -a "verify" -d 'Verify a data directory (every record, the root, the signed checkpoint), or offline a receipt or record answer, a checkpoint, a consistency proof, an export; exit 0 when sound, 1 naming the first bad index, 2 on bad usage or unreadable input'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and not __fish_seen_subcommand_from verify bench fill help" -f -a "bench" -d 'Append synthetic records through the real log and report durable appends/s, latency and the disk\'s unbatched fdatasync rate'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and not __fish_seen_subcommand_from verify bench fill help" -f -a "fill" -d 'Append synthetic, realistic records to a stopped gateway\'s log (benchmarks only; see bench/README.md)'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and not __fish_seen_subcommand_from verify bench fill help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l data-dir -d 'A log data directory to check completely' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l receipt -d 'A transfer\'s or shipment\'s receipt, or a `GET /v1/audit/records/{i}` answer (JSON), to check offline: leaf hash, record, checkpoint signature, inclusion proof' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l key -d 'The log\'s verifier key, as text (`name+id+key`) or a file holding it. Without it, `--data-dir` uses the directory\'s own `log.pub`, which only proves self-consistency; every other check needs it' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l checkpoint -d 'A signed checkpoint (`GET /v1/audit/checkpoint`, or a receipt\'s). Alone: its signature is checked. With `--data-dir`: the log must still hold every record it covers, with the same root (only this finds records cut from the end of a log whose stored checkpoint and index were removed too). With `--export`: the export must hold exactly its records' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l consistency -d 'Two signed checkpoints of the log, older first: the newer must extend the older, by the consistency proof `--proof`' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l proof -d 'The consistency proof between the `--consistency` checkpoints: a `GET /v1/audit/proof/consistency?from=OLD_SIZE&to=NEW_SIZE` answer, or its base64 hashes one per line' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l export -d 'An export (`GET /v1/audit/export?to=SIZE`, JSON Lines) to rebuild the tree from; its root must be the `--checkpoint`\'s, so it must hold exactly records 0..SIZE' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l witness-key -d 'A witness\'s cosignature/v1 verifier key, as text or a file of keys one per line (a dev folder\'s `witnesses.pub`); repeat for more. Every checkpoint checked (a receipt\'s too) must then carry valid cosignatures by `--quorum` of them' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l quorum -d 'How many of the `--witness-key` witnesses must have cosigned (default: all of them)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from bench" -l dir -d 'A directory for the benchmark\'s log (`DIR/log`, which must not exist yet)' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from bench" -l records -d 'Records to append at full load' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from bench" -l concurrency -d 'Concurrent appenders' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from bench" -l record-bytes -d 'Size of each synthetic record in bytes' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from bench" -l paced-seconds -d 'Seconds of the paced run at half the measured rate' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from bench" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from fill" -l config -d 'The gateway\'s config file (its log is appended to; the gateway must be stopped)' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from fill" -l records -d 'Records to append' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from fill" -l days -d 'Days the records\' times are spread over, ending now' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from fill" -l senders -d 'Sending tenants (`bench-tenant-01`, ...)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from fill" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Verify a data directory (every record, the root, the signed checkpoint), or offline a receipt or record answer, a checkpoint, a consistency proof, an export; exit 0 when sound, 1 naming the first bad index, 2 on bad usage or unreadable input'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "bench" -d 'Append synthetic records through the real log and report durable appends/s, latency and the disk\'s unbatched fdatasync rate'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "fill" -d 'Append synthetic, realistic records to a stopped gateway\'s log (benchmarks only; see bench/README.md)'
complete -c loopgate -n "__fish_loopgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and not __fish_seen_subcommand_from check migrate eval apply help" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and not __fish_seen_subcommand_from check migrate eval apply help" -f -a "check" -d 'Validate a bundle offline: prints every problem as FILE:LINE:COLUMN: message; exit 0 when valid, 2 otherwise. A bundle in the rules\' first version is refused with one message per field to change (see `policy migrate`)'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and not __fish_seen_subcommand_from check migrate eval apply help" -f -a "migrate" -d 'Print a bundle of the rules\' first version rewritten in the second version\'s schema (comments and layout kept); what cannot be decided is left as `# migrate:` comments. Exit 0 when the output validates (a second-version bundle is printed unchanged), 1 when a human must fill in what the comments name, 2 on bad usage or an unreadable or invalid input'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and not __fish_seen_subcommand_from check migrate eval apply help" -f -a "eval" -d 'Evaluate one transfer (with --item) or one shipment declaration (with --sample-item, --quantity and --carrier) offline and print the decision as one JSON line; exit 0 on allow, 1 on deny, 2 on bad usage or an invalid bundle'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and not __fish_seen_subcommand_from check migrate eval apply help" -f -a "apply" -d 'Validate a bundle, show its diff against the bundle in force, ask, and apply it through the admin API (PUT /v1/admin/policy) as an admin. Without a terminal only --yes applies; a change that lifts a suspension, revocation or termination needs --yes even at one. Exit 0 when applied (or identical: nothing sent), 2 when the bundle is invalid, 3 when not confirmed, 1 when the gateway cannot be reached or refuses it'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and not __fish_seen_subcommand_from check migrate eval apply help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l bundle -d 'The policy bundle (TOML)' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l at -d 'The instant to evaluate at (RFC 3339, e.g. 2026-03-16T10:00:00+08:00); rules use its calendar day in UTC+8' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l sender -d 'Sender tenant id' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l recipient -d 'Recipient tenant id (`Loop-Recipient`)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l item -d 'Inventory item id (`Loop-Inventory-Item`): evaluates a transfer (rules 1-19)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l sample-item -d 'Sample item id (the logistics list): evaluates a shipment declaration (rules S1-S8) instead of a transfer; needs --quantity and --carrier' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l quantity -d 'Units declared in the shipment (rule S5)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l carrier -d 'The carrier named for the shipment (rule S8)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l purpose -d 'Purpose code (`Loop-Purpose`)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l filing -d 'Contract filing reference (`Loop-Contract-Filing`)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l subjects -d 'Data subjects in this transfer (`Loop-Data-Subjects`)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l size -d 'Declared body size in bytes (`Content-Length`)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l ytd-subjects -d 'The year-to-date non-sensitive data subjects of the sender\'s legal entity (every tenant of its `legal_entity`, summed), before this transfer (rule 19)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -l ytd-sensitive-subjects -d 'The year-to-date sensitive data subjects of the sender\'s legal entity, before this transfer (rule 19)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from eval" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from apply" -l url -l api -d 'The gateway\'s API listener [default: https://127.0.0.1:8443]' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from apply" -l cert -d 'The admin\'s client certificate (PEM) [default: loopgate-dev/pki/admin-park-ops.pem, dev mode\'s admin]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from apply" -l key -d 'The admin\'s private key (PEM) [default: loopgate-dev/pki/admin-park-ops.key]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from apply" -l ca -d 'The CA bundle the gateway\'s certificate must chain to [default: loopgate-dev/pki/ca.pem]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from apply" -l dry-run -d 'Only show the diff; change nothing'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from apply" -s y -l yes -d 'Apply without asking: needed without a terminal (scripts) and, even at one, for a change that lifts a suspension, a revocation or a termination'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate a bundle offline: prints every problem as FILE:LINE:COLUMN: message; exit 0 when valid, 2 otherwise. A bundle in the rules\' first version is refused with one message per field to change (see `policy migrate`)'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "migrate" -d 'Print a bundle of the rules\' first version rewritten in the second version\'s schema (comments and layout kept); what cannot be decided is left as `# migrate:` comments. Exit 0 when the output validates (a second-version bundle is printed unchanged), 1 when a human must fill in what the comments name, 2 on bad usage or an unreadable or invalid input'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "eval" -d 'Evaluate one transfer (with --item) or one shipment declaration (with --sample-item, --quantity and --carrier) offline and print the decision as one JSON line; exit 0 on allow, 1 on deny, 2 on bad usage or an invalid bundle'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Validate a bundle, show its diff against the bundle in force, ask, and apply it through the admin API (PUT /v1/admin/policy) as an admin. Without a terminal only --yes applies; a change that lifts a suspension, revocation or termination needs --yes even at one. Exit 0 when applied (or identical: nothing sent), 2 when the bundle is invalid, 3 when not confirmed, 1 when the gateway cannot be reached or refuses it'
complete -c loopgate -n "__fish_loopgate_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and not __fish_seen_subcommand_from keygen serve help" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and not __fish_seen_subcommand_from keygen serve help" -f -a "keygen" -d 'Create a new witness signing key (file mode 0600) and print its cosignature/v1 verifier key, `<name>+<hex id>+<base64(0x04 || public key)>`'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and not __fish_seen_subcommand_from keygen serve help" -f -a "serve" -d 'Run the witness: POST <prefix>/add-checkpoint cosigns each log\'s consistent checkpoints'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and not __fish_seen_subcommand_from keygen serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and __fish_seen_subcommand_from keygen" -l out -d 'Where to write the key; must not exist' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and __fish_seen_subcommand_from keygen" -l name -d 'The witness\'s name, a schema-less URL, e.g. `pcpd.example/witness`' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and __fish_seen_subcommand_from keygen" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and __fish_seen_subcommand_from serve" -l config -d 'The witness config (TOML; see deploy/witness.toml)' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and __fish_seen_subcommand_from help" -f -a "keygen" -d 'Create a new witness signing key (file mode 0600) and print its cosignature/v1 verifier key, `<name>+<hex id>+<base64(0x04 || public key)>`'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Run the witness: POST <prefix>/add-checkpoint cosigns each log\'s consistent checkpoints'
complete -c loopgate -n "__fish_loopgate_using_subcommand witness; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and not __fish_seen_subcommand_from suspend unsuspend help" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and not __fish_seen_subcommand_from suspend unsuspend help" -f -a "suspend" -d 'Suspend one tenant at once (its transfers and shipments are denied with tenant.suspended or recipient.suspended from the next request on); logged with the reason'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and not __fish_seen_subcommand_from suspend unsuspend help" -f -a "unsuspend" -d 'Lift one tenant\'s suspension at once (its status back to approved); logged with the reason. A tenant that is not suspended is refused (409 policy.not_suspended); a revocation is lifted only by a new bundle (policy apply --yes)'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and not __fish_seen_subcommand_from suspend unsuspend help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from suspend" -l reason -d 'Why, for the log (the policy_change record\'s `reason`; regulators filter on it)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from suspend" -l url -l api -d 'The gateway\'s API listener [default: https://127.0.0.1:8443]' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from suspend" -l cert -d 'The admin\'s client certificate (PEM) [default: loopgate-dev/pki/admin-park-ops.pem, dev mode\'s admin]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from suspend" -l key -d 'The admin\'s private key (PEM) [default: loopgate-dev/pki/admin-park-ops.key]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from suspend" -l ca -d 'The CA bundle the gateway\'s certificate must chain to [default: loopgate-dev/pki/ca.pem]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from suspend" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from unsuspend" -l reason -d 'Why, for the log (the policy_change record\'s `reason`; regulators filter on it)' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from unsuspend" -l url -l api -d 'The gateway\'s API listener [default: https://127.0.0.1:8443]' -r
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from unsuspend" -l cert -d 'The admin\'s client certificate (PEM) [default: loopgate-dev/pki/admin-park-ops.pem, dev mode\'s admin]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from unsuspend" -l key -d 'The admin\'s private key (PEM) [default: loopgate-dev/pki/admin-park-ops.key]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from unsuspend" -l ca -d 'The CA bundle the gateway\'s certificate must chain to [default: loopgate-dev/pki/ca.pem]' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from unsuspend" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "suspend" -d 'Suspend one tenant at once (its transfers and shipments are denied with tenant.suspended or recipient.suspended from the next request on); logged with the reason'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "unsuspend" -d 'Lift one tenant\'s suspension at once (its status back to approved); logged with the reason. A tenant that is not suspended is refused (409 policy.not_suspended); a revocation is lifted only by a new bundle (policy apply --yes)'
complete -c loopgate -n "__fish_loopgate_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand check-config" -l config -d 'The gateway config (TOML)' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand check-config" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand completions" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand man" -l dir -d 'Write every page into this folder (loopgate.1 and one page per command, e.g. loopgate-policy-apply.1) instead of printing loopgate.1' -r -F
complete -c loopgate -n "__fish_loopgate_using_subcommand man" -s h -l help -d 'Print help'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "serve" -d 'Run the gateway. Without --config: dev mode in ./loopgate-dev/ (made once)'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "dev" -d 'Dev-mode helpers: more client certificates from the dev CA'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "keygen" -d 'Create a new Ed25519 log signing key (file mode 0600) and print its verifier key'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "audit" -d 'Verify the audit log or a receipt offline; benchmark the log'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "policy" -d 'Validate policy bundles and evaluate transfers offline, exactly as the gateway would'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "witness" -d 'A C2SP tlog-witness: make its key, or run it to cosign a log\'s consistent checkpoints'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "tenant" -d 'Suspend a tenant at once, or lift its suspension, through the admin API'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "check-config" -d 'Validate a gateway config and every file it names, without binding; exit 0, or 64 with one line per problem'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "completions" -d 'Print the shell completion script for SHELL on standard output (deploy/install.sh and the .deb install bash\'s, zsh\'s and fish\'s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "man" -d 'Print the loopgate(1) man page (roff) on standard output, or write every page, one per command, into --dir'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and not __fish_seen_subcommand_from serve dev keygen audit policy witness tenant check-config completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from dev" -f -a "cert" -d 'Issue one more client certificate from the dev CA into pki/<role>-<id>.{pem,key}'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from dev" -f -a "init" -d 'Make the dev folder (as `serve` without --config does) without serving'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Verify a data directory (every record, the root, the signed checkpoint), or offline a receipt or record answer, a checkpoint, a consistency proof, an export; exit 0 when sound, 1 naming the first bad index, 2 on bad usage or unreadable input'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "bench" -d 'Append synthetic records through the real log and report durable appends/s, latency and the disk\'s unbatched fdatasync rate'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "fill" -d 'Append synthetic, realistic records to a stopped gateway\'s log (benchmarks only; see bench/README.md)'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "check" -d 'Validate a bundle offline: prints every problem as FILE:LINE:COLUMN: message; exit 0 when valid, 2 otherwise. A bundle in the rules\' first version is refused with one message per field to change (see `policy migrate`)'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "migrate" -d 'Print a bundle of the rules\' first version rewritten in the second version\'s schema (comments and layout kept); what cannot be decided is left as `# migrate:` comments. Exit 0 when the output validates (a second-version bundle is printed unchanged), 1 when a human must fill in what the comments name, 2 on bad usage or an unreadable or invalid input'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "eval" -d 'Evaluate one transfer (with --item) or one shipment declaration (with --sample-item, --quantity and --carrier) offline and print the decision as one JSON line; exit 0 on allow, 1 on deny, 2 on bad usage or an invalid bundle'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "apply" -d 'Validate a bundle, show its diff against the bundle in force, ask, and apply it through the admin API (PUT /v1/admin/policy) as an admin. Without a terminal only --yes applies; a change that lifts a suspension, revocation or termination needs --yes even at one. Exit 0 when applied (or identical: nothing sent), 2 when the bundle is invalid, 3 when not confirmed, 1 when the gateway cannot be reached or refuses it'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from witness" -f -a "keygen" -d 'Create a new witness signing key (file mode 0600) and print its cosignature/v1 verifier key, `<name>+<hex id>+<base64(0x04 || public key)>`'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from witness" -f -a "serve" -d 'Run the witness: POST <prefix>/add-checkpoint cosigns each log\'s consistent checkpoints'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "suspend" -d 'Suspend one tenant at once (its transfers and shipments are denied with tenant.suspended or recipient.suspended from the next request on); logged with the reason'
complete -c loopgate -n "__fish_loopgate_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "unsuspend" -d 'Lift one tenant\'s suspension at once (its status back to approved); logged with the reason. A tenant that is not suspended is refused (409 policy.not_suspended); a revocation is lifted only by a new bundle (policy apply --yes)'
