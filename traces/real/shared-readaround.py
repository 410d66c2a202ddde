# A file read in by one fault's read-around, then mapped by another fault's fault-around, in a shared mapping
# (whose page-cache pages are ground truth). Recorded by traces/real/README.md's command for shared-readaround.
import mmap
import os
import signal

PAGE = 4096
path = "/tmp/mmdb-shared-readaround.dat"
with open(path, "wb") as f:
    f.write(os.urandom(512 * PAGE))
    f.flush()
    os.fsync(f.fileno())
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # evicted: the first fault reads it in
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
os.kill(os.getpid(), signal.SIGSTOP)  # checkpoint 1: nothing mapped yet
first = m[10 * PAGE]  # reads the file in (read-around), maps its window
second = m[40 * PAGE]  # maps pages the first fault's read-around brought in
os.kill(os.getpid(), signal.SIGSTOP)  # checkpoint 2
m.close()
os.close(fd)
os.unlink(path)
print(first, second)
