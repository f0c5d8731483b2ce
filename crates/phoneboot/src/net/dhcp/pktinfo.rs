//! Where a datagram was sent: `IP_PKTINFO` on the server socket, so the
//! loop can tell a REBINDING broadcast (any server may answer, so the
//! share decides) from a RENEWING unicast to us (ours to answer). The
//! message alone cannot say: both carry `ciaddr` and no server identifier.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;

/// Asks the kernel to report each datagram's destination address.
pub fn enable(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a c_int that outlives the call; the kernel only reads
    // `size_of::<c_int>()` bytes of it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One datagram without waiting: its length, source, and the destination
/// address in its IP header when the kernel reported one.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4, Option<Ipv4Addr>)> {
    // SAFETY: all-zero sockaddr_in and msghdr are valid values.
    let mut name: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64s for the alignment a cmsghdr needs; room for one in_pktinfo.
    let mut control = [0u64; 8];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: `msg` points at `name`, `iov` (into `buf`) and `control`, all
    // borrowed mutably for the call and sized as declared.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let from = SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr)),
        u16::from_be(name.sin_port),
    );
    let mut dst = None;
    // SAFETY: the CMSG_* walk stays inside `control` as the kernel filled
    // it (`msg_controllen` was updated by recvmsg); CMSG_DATA of an
    // IP_PKTINFO header holds one in_pktinfo, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info: libc::in_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in_pktinfo);
                dst = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, from, dst))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, UdpSocket};
    use std::os::fd::AsRawFd;

    #[test]
    fn the_destination_of_a_datagram_is_reported() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        super::enable(rx.as_raw_fd()).unwrap();
        let tx = UdpSocket::bind("127.0.0.2:0").unwrap();
        tx.send_to(b"hello", rx.local_addr().unwrap()).unwrap();
        let mut ready = libc::pollfd {
            fd: rx.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call.
        assert_eq!(unsafe { libc::poll(&mut ready, 1, 5000) }, 1);
        let mut buf = [0u8; 16];
        let (n, from, dst) = super::recv(rx.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(std::net::SocketAddr::V4(from), tx.local_addr().unwrap());
        assert_eq!(dst, Some(Ipv4Addr::LOCALHOST));
    }
}
