// `cronvault completion bash|zsh`: a small completion script written from the program's own
// commands and options (so it cannot drift from them); job names come from the config at the
// moment of completion, through the hidden `__complete-jobs` command.
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { type ConfigOption, readConfig } from './context.ts';

/** Commands whose first argument is a job name from the config. */
const JOB_COMMANDS = ['run', 'history', 'snapshots', 'restore', 'init'];

interface Words {
  commands: string[];
  globalOptions: string[];
  /** command name → its own options (a command with subcommands: their names and options). */
  perCommand: Map<string, string[]>;
  /** Options whose value is a file or directory. */
  fileOptions: string[];
}

const flagsOf = (command: Command): string[] =>
  command.options.flatMap((option) => [option.short, option.long].filter((f): f is string => Boolean(f)));

const wordsOf = (program: Command): Words => {
  const visible = program.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  const perCommand = new Map(
    visible.map((c) => [
      c.name(),
      [...c.commands.map((sub) => sub.name()), ...flagsOf(c), ...c.commands.flatMap(flagsOf)],
    ]),
  );
  const all = [program, ...visible, ...visible.flatMap((c) => c.commands)];
  const fileOptions = [
    ...new Set(
      all.flatMap((c) =>
        c.options
          .filter((o) => /<(file|dir)>/.test(o.flags))
          .flatMap((o) => [o.short, o.long].filter((f): f is string => Boolean(f))),
      ),
    ),
  ];
  return { commands: visible.map((c) => c.name()), globalOptions: flagsOf(program), perCommand, fileOptions };
};

const bashScript = (
  w: Words,
): string => `# cronvault completion for bash: eval "$(cronvault completion bash)" in ~/.bashrc,
# or: cronvault completion bash > /etc/bash_completion.d/cronvault
_cronvault() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd="" cfg="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      -c|--config) cfg=\${COMP_WORDS[i+1]}; i=$((i + 1)) ;;
      --config=*) cfg=\${COMP_WORDS[i]#--config=} ;;
      -*) ;;
      *) [ -z "$cmd" ] && cmd=\${COMP_WORDS[i]} ;;
    esac
  done
  case $prev in
    ${w.fileOptions.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  local words="${w.globalOptions.join(' ')}"
  case $cmd in
${[...w.perCommand].map(([name, flags]) => `    ${name}) words="$words ${flags.join(' ')}" ;;`).join('\n')}
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$words" -- "$cur")); return; fi
  case $cmd in
    '') COMPREPLY=($(compgen -W "${w.commands.join(' ')}" -- "$cur")) ;;
    ${JOB_COMMANDS.join('|')}) COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" \${cfg:+--config "$cfg"} __complete-jobs 2>/dev/null)" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;
    retention) COMPREPLY=($(compgen -W "explain" -- "$cur")) ;;
  esac
}
complete -F _cronvault cronvault
`;

const zshScript = (w: Words): string => `#compdef cronvault
# cronvault completion for zsh: cronvault completion zsh > "\${fpath[1]}/_cronvault",
# or eval "$(cronvault completion zsh)" after compinit in ~/.zshrc
_cronvault() {
  local cmd="" cfg="" i
  local -a cfgopt opts jobs
  for ((i = 2; i < CURRENT; i++)); do
    case \${words[i]} in
      -c|--config) cfg=\${words[i+1]}; (( i++ )) ;;
      --config=*) cfg=\${words[i]#--config=} ;;
      -*) ;;
      *) [[ -z $cmd ]] && cmd=\${words[i]} ;;
    esac
  done
  case \${words[CURRENT-1]} in
    ${w.fileOptions.join('|')}) _files; return ;;
  esac
  opts=(${w.globalOptions.join(' ')})
  case $cmd in
${[...w.perCommand].map(([name, flags]) => `    ${name}) opts+=(${flags.join(' ')}) ;;`).join('\n')}
  esac
  if [[ \${words[CURRENT]} == -* ]]; then compadd -- $opts; return; fi
  [[ -n $cfg ]] && cfgopt=(--config "$cfg")
  case $cmd in
    '') compadd -- ${w.commands.join(' ')} ;;
    ${JOB_COMMANDS.join('|')}) jobs=(\${(f)"$(\${words[1]} $cfgopt __complete-jobs 2>/dev/null)"}); compadd -a jobs ;;
    completion) compadd bash zsh ;;
    retention) compadd explain ;;
  esac
}
compdef _cronvault cronvault
`;

export const completionCommand = (shell: string, program: Command): string => {
  if (shell === 'bash') return bashScript(wordsOf(program));
  if (shell === 'zsh') return zshScript(wordsOf(program));
  throw new UsageError('E_USAGE', `completion: shell must be bash or zsh, not "${shell}"`);
};

/** For the completion scripts: the config's job names, one a line; nothing when the config cannot be read. */
export const completeJobsCommand = (options: ConfigOption): string => {
  try {
    return [...readConfig(options).jobs.keys()].map((name) => `${name}\n`).join('');
  } catch {
    return '';
  }
};
