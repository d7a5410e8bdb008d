//! Short human formats for table cells.

/// 0.4 -> "0.4s", 75 -> "1m15s", 7300 -> "2h01m", 200000 -> "2d07h".
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(duration_short(0.42), "0.4s");
        assert_eq!(duration_short(75.0), "1m15s");
        assert_eq!(duration_short(7300.0), "2h01m");
        assert_eq!(duration_short(200_000.0), "2d07h");
        assert_eq!(duration_short(f64::NAN), "-");
        assert_eq!(opt_duration(None), "-");
    }
}
