use super::*;
use usage::{hour_of, HourUsage};

#[test]
fn hour_of_is_the_start_of_the_hour_also_before_1970() {
    assert_eq!(hour_of(UnixTime(7200)), 7200);
    assert_eq!(hour_of(UnixTime(7199)), 3600);
    assert_eq!(hour_of(UnixTime(-1)), -3600);
}

#[test]
fn hours_merge_with_the_peak_as_a_max_and_the_rest_as_sums_skipping_deleted_projects() {
    let (_tmp, mut store) = open_temp();
    let id = make_project(&mut store, 1);
    let gone = ProjectId::from_random([9; 16]);
    let a = HourUsage { peak_connections: 40, signals: 100, turn_bytes: 5000, turn_allocations: 2 };
    let b = HourUsage { peak_connections: 25, signals: 10, turn_bytes: 1, turn_allocations: 1 };
    store.add_hourly_usage(3600, &[(id.clone(), a), (gone.clone(), a)]).unwrap();
    store.add_hourly_usage(3600, &[(id.clone(), b)]).unwrap();
    store.add_hourly_usage(10_800, &[(id.clone(), b)]).unwrap();
    store.add_hourly_usage(14_400, &[(id.clone(), a)]).unwrap();
    let merged = HourUsage { peak_connections: 40, signals: 110, turn_bytes: 5001, turn_allocations: 3 };
    assert_eq!(store.hourly_usage(&id, 0, 10_800).unwrap(), [(3600, merged), (10_800, b)]);
    assert_eq!(store.hourly_usage(&id, 3601, 14_400).unwrap(), [(10_800, b), (14_400, a)]);
    assert!(store.hourly_usage(&gone, 0, 20_000).unwrap().is_empty());
    store.add_hourly_usage(3600, &[(id.clone(), HourUsage { peak_connections: 41, ..Default::default() })]).unwrap();
    assert_eq!(store.hourly_usage(&id, 3600, 3600).unwrap()[0].1.peak_connections, 41);
}
