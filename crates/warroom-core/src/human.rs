//! Short human formats for durations and byte sizes, shared by the screen, the CLI and the
//! backends' one-line summaries (a leaf: it knows nothing else of warroom).

/// 0.4 -> "0.4s", 75 -> "1m15s", 7300 -> "2h01m", 200000 -> "2d07h"; "-" for no real time.
pub fn duration_short(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    if secs < 10.0 {
        return format!("{secs:.1}s");
    }
    let s = secs as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

pub fn opt_duration(secs: Option<f64>) -> String {
    secs.map_or_else(|| "-".into(), duration_short)
}

/// "how long ago" for the status bar.
pub fn ago(elapsed: std::time::Duration) -> String {
    let s = elapsed.as_secs_f64();
    if s < 1.0 {
        "just now".into()
    } else {
        format!("{} ago", duration_short(s))
    }
}

/// 512 -> "512 B", 1536 -> "1.5 KiB", 12.0 MiB ...
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_are_short() {
        let cases: [(String, &str); 11] = [
            (duration_short(0.42), "0.4s"),
            (duration_short(3.25), "3.2s"),
            (duration_short(75.0), "1m15s"),
            (duration_short(185.0), "3m05s"),
            (duration_short(7300.0), "2h01m"),
            (duration_short(200_000.0), "2d07h"),
            (duration_short(f64::NAN), "-"),
            (opt_duration(None), "-"),
            (human_bytes(512.0), "512 B"),
            (human_bytes(1536.0), "1.5 KiB"),
            (human_bytes(3.5e6), "3.3 MiB"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
