import mmap, os, time, signal, json, zlib
PAGE = 4096
def touch(m, n, v):
    for i in range(n):
        m[i*PAGE] = v
a = mmap.mmap(-1, 256*PAGE, flags=mmap.MAP_PRIVATE|mmap.MAP_ANONYMOUS)
touch(a, 256, 1)
os.kill(os.getpid(), signal.SIGSTOP)
a.madvise(mmap.MADV_FREE, 0, 128*PAGE)
os.kill(os.getpid(), signal.SIGSTOP)
pid = os.fork()
if pid == 0:
    touch(a, 64, 2)
    data = zlib.compress(bytes(200000))
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
os.waitpid(pid, 0)
a.madvise(mmap.MADV_DONTNEED, 128*PAGE, 64*PAGE)
json.dumps({"x": list(range(1000))})
os.kill(os.getpid(), signal.SIGSTOP)
