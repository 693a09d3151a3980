export declare const LIBC_NAMES: readonly ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];
declare function load(): import("bun:ffi").ConvertFns<{
    readonly open: {
        readonly args: readonly ["ptr", "i32", "i32"];
        readonly returns: "i32";
    };
    readonly ioctl: {
        readonly args: readonly ["i32", "u64", "ptr"];
        readonly returns: "i32";
    };
    readonly read: {
        readonly args: readonly ["i32", "ptr", "u64"];
        readonly returns: "i32";
    };
    readonly write: {
        readonly args: readonly ["i32", "ptr", "u64"];
        readonly returns: "i32";
    };
    readonly writev: {
        readonly args: readonly ["i32", "ptr", "i32"];
        readonly returns: "i32";
    };
    readonly close: {
        readonly args: readonly ["i32"];
        readonly returns: "i32";
    };
    readonly eventfd: {
        readonly args: readonly ["u32", "i32"];
        readonly returns: "i32";
    };
    readonly socket: {
        readonly args: readonly ["i32", "i32", "i32"];
        readonly returns: "i32";
    };
    readonly sendto: {
        readonly args: readonly ["i32", "ptr", "u64", "i32", "ptr", "u32"];
        readonly returns: "i64";
    };
    readonly sendmmsg: {
        readonly args: readonly ["i32", "ptr", "u32", "i32"];
        readonly returns: "i32";
    };
    readonly recvmmsg: {
        readonly args: readonly ["i32", "ptr", "u32", "i32", "ptr"];
        readonly returns: "i32";
    };
    readonly bind: {
        readonly args: readonly ["i32", "ptr", "u32"];
        readonly returns: "i32";
    };
    readonly getsockname: {
        readonly args: readonly ["i32", "ptr", "ptr"];
        readonly returns: "i32";
    };
    readonly epoll_create1: {
        readonly args: readonly ["i32"];
        readonly returns: "i32";
    };
    readonly epoll_ctl: {
        readonly args: readonly ["i32", "i32", "i32", "ptr"];
        readonly returns: "i32";
    };
    readonly epoll_wait: {
        readonly args: readonly ["i32", "ptr", "i32", "i32"];
        readonly returns: "i32";
    };
    readonly setsockopt: {
        readonly args: readonly ["i32", "i32", "i32", "ptr", "u32"];
        readonly returns: "i32";
    };
    readonly getsockopt: {
        readonly args: readonly ["i32", "i32", "i32", "ptr", "ptr"];
        readonly returns: "i32";
    };
    readonly __errno_location: {
        readonly args: readonly [];
        readonly returns: "ptr";
    };
}> | null;
/** The C library's symbols, or null when none of LIBC_NAMES loads (not Linux, or an odd libc). */
export declare function libc(): NonNullable<ReturnType<typeof load>> | null;
/** errno of the calling thread after a failed call. */
export declare function errno(): number;
/** Writes pointer `p` as a little-endian u64 at u32 index `at` (struct fields of iovec, msghdr). */
export declare function putPtr(u32: Uint32Array, at: number, p: number): void;
export {};
