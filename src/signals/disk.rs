//! Free space and inodes of the cache volume, from `df -Pk` and `df -Pi`.
//!
//! `df -Pk` has the same columns everywhere (filesystem, 1024-blocks, used, available,
//! capacity, mount). `df -Pi` differs: Linux prints `Inodes IUsed IFree IUse%`,
//! macOS prints the block columns followed by `iused ifree %iused`. Columns are found
//! by their header names.

use serde::Serialize;

use super::SignalError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub avail_kb: u64,
    pub used_pct: u8,
    /// Free inodes, when the platform reports them.
    pub inodes_free: Option<u64>,
    pub inodes_used_pct: Option<u8>,
}

fn pct(s: &str) -> Option<u8> {
    s.trim_end_matches('%').parse().ok()
}

/// Parse the numeric columns the poll script keeps of the last line of `df -Pk`
/// (blocks, used, available, capacity%) and of `df -Pi` (Linux: inodes, used, free,
/// use%; macOS: the block columns, then iused, ifree, %iused). Free inodes sit just
/// before the last percentage on both.
pub fn parse_columns(dfk: &[String], dfi: &[String]) -> Result<Disk, SignalError> {
    let line = dfk.join(" ");
    let mut d = parse(line.as_bytes(), b"")?;
    if let Some(p) = dfi.iter().rposition(|c| c.ends_with('%')) {
        d.inodes_used_pct = pct(&dfi[p]);
        d.inodes_free = p.checked_sub(1).and_then(|i| dfi[i].parse().ok());
    }
    Ok(d)
}

/// Parse the last line of `df -Pk` and the whole of `df -Pi`.
pub fn parse(dfk_line: &[u8], dfi: &[u8]) -> Result<Disk, SignalError> {
    let line = String::from_utf8_lossy(dfk_line);
    let cols: Vec<&str> = line.split_whitespace().collect();
    // The mount point and filesystem may hold spaces; the numbers sit before "NN%".
    let cap_at = cols
        .iter()
        .rposition(|c| c.ends_with('%') && pct(c).is_some())
        .ok_or_else(|| SignalError::new("disk", format!("unreadable df line {:?}", line.trim())))?;
    if cap_at < 3 {
        return Err(SignalError::new(
            "disk",
            format!("unreadable df line {:?}", line.trim()),
        ));
    }
    let avail_kb = cols[cap_at - 1]
        .parse()
        .map_err(|_| SignalError::new("disk", format!("unreadable df line {:?}", line.trim())))?;
    let used_pct = pct(cols[cap_at]).unwrap_or(0);

    let dfi = String::from_utf8_lossy(dfi);
    let lines: Vec<&str> = dfi.lines().filter(|l| !l.trim().is_empty()).collect();
    let (mut inodes_free, mut inodes_used_pct) = (None, None);
    if let (Some(head), Some(last)) = (lines.first(), lines.last()) {
        let heads: Vec<String> = head
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let vals: Vec<&str> = last.split_whitespace().collect();
        // Align from the right: the mount point ("Mounted on" is two header words).
        let offset = heads.len() as isize - 1 - vals.len() as isize;
        let at = |name: &str| {
            heads.iter().position(|h| h == name).and_then(|i| {
                let j = i as isize - offset;
                (j >= 0).then(|| vals.get(j as usize)).flatten()
            })
        };
        inodes_free = at("ifree").and_then(|v| v.parse().ok());
        inodes_used_pct = at("iuse%").or_else(|| at("%iused")).and_then(|v| pct(v));
    }
    Ok(Disk {
        avail_kb,
        used_pct,
        inodes_free,
        inodes_used_pct,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_df() {
        let d = parse(
            b"/dev/vda 263174212 198765432 53621580      79% /\n",
            b"Filesystem       Inodes   IUsed    IFree IUse% Mounted on\n/dev/vda       16777216 1234567 15542649    8% /\n",
        )
        .expect("parses");
        assert_eq!(d.avail_kb, 53621580);
        assert_eq!(d.used_pct, 79);
        assert_eq!(d.inodes_free, Some(15542649));
        assert_eq!(d.inodes_used_pct, Some(8));
    }

    #[test]
    fn macos_df() {
        let d = parse(
            b"/dev/disk3s5 482797652 398765432 84032220    83% /System/Volumes/Data\n",
            b"Filesystem   512-blocks      Used Available Capacity iused     ifree %iused  Mounted on\n/dev/disk3s5  965595304 797530864 168064440    83% 2345678 840321100    0%   /System/Volumes/Data\n",
        )
        .expect("parses");
        assert_eq!(d.avail_kb, 84032220);
        assert_eq!(d.inodes_free, Some(840321100));
        assert_eq!(d.inodes_used_pct, Some(0));
    }

    #[test]
    fn numeric_columns_from_the_poll_script() {
        let v = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let linux = parse_columns(
            &v("263174212 198765432 53621580 79%"),
            &v("16777216 1234567 15542649 8%"),
        )
        .expect("linux");
        assert_eq!(
            (
                linux.avail_kb,
                linux.used_pct,
                linux.inodes_free,
                linux.inodes_used_pct
            ),
            (53621580, 79, Some(15542649), Some(8))
        );
        let mac = parse_columns(
            &v("482797652 398765432 84032220 83%"),
            &v("965595304 797530864 168064440 83% 2345678 840321100 0%"),
        )
        .expect("mac");
        assert_eq!(
            (mac.inodes_free, mac.inodes_used_pct),
            (Some(840321100), Some(0))
        );
        assert!(parse_columns(&[], &[]).is_err());
    }

    #[test]
    fn garbage_is_a_disk_error() {
        let e = parse(b"df: /nope: No such file or directory", b"").expect_err("bad");
        assert_eq!(e.signal, "disk");
        assert!(parse(b"", b"").is_err());
    }
}
