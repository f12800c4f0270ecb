# bash completion for rtasync-trace                        -*- shell-script -*-
# SPDX-License-Identifier: MIT
#
# Grammar: rtasync-trace [OPTIONS] OBJECT COMMAND [ARGS]  (see
# Documentation/rtasync-trace.md).  Installed as
# $(datadir)/bash-completion/completions/rtasync-trace.

_rtasync_trace_pids()
{
    local p pids=()
    for p in /proc/[0-9]*; do
        pids+=("${p#/proc/}")
    done
    COMPREPLY=($(compgen -W "${pids[*]}" -- "$1"))
}

# Processes with a librtasync trace area (an fd on the memfd
# "rtasync-trace"); all processes when none can be seen (not root).
_rtasync_trace_rt_pids()
{
    local fd p pids=()
    for fd in /proc/[0-9]*/fd/*; do
        [[ $(readlink "$fd" 2>/dev/null) == /memfd:rtasync-trace* ]] || continue
        p=${fd#/proc/}
        pids+=("${p%%/*}")
    done
    if ((${#pids[@]} == 0)); then
        _rtasync_trace_pids "$1"
        return
    fi
    COMPREPLY=($(compgen -W "${pids[*]}" -- "$1"))
}

_rtasync_trace_cgroups()
{
    local mnt
    # the fstype follows the '-' that ends mountinfo's optional fields
    mnt=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") break }
               $(i + 1) == "cgroup2" { print $5; exit }' /proc/self/mountinfo 2>/dev/null)
    if [[ $1 == /* || -z $mnt ]]; then
        COMPREPLY=($(compgen -d -- "$1"))
    else
        # paths relative to the cgroup2 mount, as the tool accepts them
        COMPREPLY=($(cd "$mnt" 2>/dev/null && compgen -d -- "$1"))
    fi
    compopt -o filenames 2>/dev/null
}

_rtasync_trace()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local global_opts='-j --json -p --pretty --duration --interval -d --debug
        -V --version -h --help'
    local stat_opts='-p --pid --cgroup --requests --no-hist --max-threads -j
        --json --pretty --duration --interval -h --help help --'

    # Values of options that take one: nothing sensible to offer but pids,
    # cgroups and file names.
    case $prev in
        --duration|--interval|--requests|--max-threads|-n|--top|--sample|--depth)
            return ;;
    esac

    # Find OBJECT and COMMAND, skipping global options (and their values).
    local i object='' command='' cmd_idx=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --duration|--interval) ((i++)); continue ;;
            -*) [[ -z $object ]] && continue ;;
        esac
        if [[ -z $object ]]; then
            object=${words[i]}
            # record takes no COMMAND: its options come next
            [[ $object == record ]] && { cmd_idx=$i; command=record; break; }
        elif [[ -z $command ]]; then
            command=${words[i]}
            cmd_idx=$i
            break
        fi
    done

    if [[ -z $object ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
        else
            COMPREPLY=($(compgen -W 'sched task record help' -- "$cur"))
        fi
        return
    fi

    if [[ -z $command ]]; then
        case $object in
            sched) COMPREPLY=($(compgen -W 'stat help' -- "$cur")) ;;
            task)  COMPREPLY=($(compgen -W 'top hist blocked dump help' -- "$cur")) ;;
        esac
        return
    fi

    # task COMMAND and record: -p is the process, options per command.
    if [[ $object == task || $object == record ]]; then
        local opts='-p --pid -j --json --pretty -h --help help'
        case $command in
            top)     opts+=' -n --top -o --output --interval --duration' ;;
            hist)    opts+=' --sample --interval --duration' ;;
            blocked) opts+=' -n --top --no-hist --interval --duration' ;;
            dump)    opts+=' --depth --duration' ;;
            record)  opts+=' -o --output --sample --duration' ;;
            *)       return ;;
        esac
        case $prev in
            -p|--pid) _rtasync_trace_rt_pids "$cur"; return ;;
            -o|--output)
                if [[ $command == top ]]; then
                    COMPREPLY=($(compgen -W 'table json prometheus' -- "$cur"))
                else
                    COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null
                fi
                return ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    [[ $object == sched && $command == stat ]] || return

    # After '--' comes a command line of its own.
    for ((i = cmd_idx + 1; i < cword; i++)); do
        if [[ ${words[i]} == -- ]]; then
            if declare -F _command_offset >/dev/null; then
                _command_offset $((i + 1))
            else
                COMPREPLY=($(compgen -c -- "$cur"))
            fi
            return
        fi
    done

    case $prev in
        -p|--pid) _rtasync_trace_pids "$cur"; return ;;
        --cgroup) _rtasync_trace_cgroups "$cur"; return ;;
    esac
    COMPREPLY=($(compgen -W "$stat_opts" -- "$cur"))
}

complete -F _rtasync_trace rtasync-trace
